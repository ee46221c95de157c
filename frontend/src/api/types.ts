/**
 * TypeScript types for the backend's REST and WebSocket contract (`/api/v1`).
 *
 * Hand-written from the API contract until `src/api/schema.d.ts` is generated from the backend's
 * OpenAPI schema; WebSocket messages are not part of OpenAPI and stay hand-written here.
 * Not responsible for fetching anything (see `src/lib/api-client.ts`).
 */

export const JOB_STATES = [
  "queued",
  "running",
  "succeeded",
  "failed",
  "cancelled",
  "interrupted",
] as const;

export type JobState = (typeof JOB_STATES)[number];

export type Job = {
  id: number;
  kind: string;
  params: Record<string, unknown>;
  state: JobState;
  stage: string | null;
  /** Fraction done, 0..1. */
  progress: number | null;
  done: number | null;
  total: number | null;
  unit: string | null;
  /** Units per second. */
  rate: number | null;
  eta_s: number | null;
  message: string | null;
  error_code: string | null;
  error_message: string | null;
  result: Record<string, unknown> | null;
  cancel_requested: boolean;
  attempt: number;
  has_checkpoint: boolean;
  worker_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  heartbeat_at: string | null;
};

export type JobList = { items: Job[]; total: number };

export type SelftestCreate = { iterations?: number; step_delay_s?: number };

export type Health = { status: "ok"; version: string; database: "sqlite" | "postgresql" };

export type GpuStatus = {
  index: number;
  name: string;
  memory_total: number;
  memory_used: number;
  utilization_percent: number | null;
};

export type SystemStatus = {
  timestamp: string;
  cpu: { percent: number; count: number };
  memory: { total: number; available: number; used: number; percent: number };
  disk: { path: string; total: number; used: number; free: number; percent: number };
  gpus: GpuStatus[];
};

export type ErrorBody = {
  error: { code: string; message: string; details: Record<string, unknown> };
};

/** Messages the server pushes over `/api/v1/ws`. */
export type ServerMessage =
  | { type: "snapshot"; jobs: Job[] }
  | { type: "job.updated"; job: Job }
  | { type: "system.metrics"; system: SystemStatus }
  | { type: "pong" };

/** Messages the client sends over `/api/v1/ws`. */
export type ClientMessage =
  | { type: "subscribe"; job_ids: number[] | null; system: boolean }
  | { type: "ping" };
