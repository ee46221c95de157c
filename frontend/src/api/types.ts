/**
 * The app's names for the backend's types.
 *
 * REST types come from `schema.d.ts`, generated from the backend's OpenAPI schema
 * (`npm run gen:api`; `npm run check:api` fails when it is stale). WebSocket messages are not part
 * of OpenAPI and are written here by hand from `src/interpstudio/api/ws.py`.
 * Not responsible for fetching anything (see `src/lib/api-client.ts`).
 */
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Job = Schemas["JobRead"];
export type JobState = Job["state"];
export type JobList = Schemas["JobList"];
export type SelftestCreate = Schemas["SelftestCreate"];
export type Health = Schemas["HealthRead"];
export type GpuStatus = Schemas["GpuRead"];
export type SystemStatus = Schemas["SystemRead"];
export type ErrorBody = Schemas["ErrorResponse"];

/** Every job state, in lifecycle order (for filters). */
export const JOB_STATES = [
  "queued",
  "running",
  "succeeded",
  "failed",
  "cancelled",
  "interrupted",
] as const satisfies readonly JobState[];

// Compile-time guard: a state added to the backend must be added to JOB_STATES.
type MissingStates = Exclude<JobState, (typeof JOB_STATES)[number]>;
const allStatesListed: MissingStates extends never ? true : MissingStates = true;
void allStatesListed;

/** Messages the server pushes over `/api/v1/ws`. */
export type ServerMessage =
  | { type: "snapshot"; jobs: Job[] }
  | { type: "job.updated"; job: Job }
  | { type: "job.deleted"; job_id: number }
  | { type: "system.metrics"; host: string; system: SystemStatus }
  | { type: "pong" }
  | { type: "error"; error: { code: string; message: string } };

/** Messages the client sends over `/api/v1/ws`. */
export type ClientMessage =
  | { type: "subscribe"; job_ids: number[] | null; system: boolean }
  | { type: "ping" };
