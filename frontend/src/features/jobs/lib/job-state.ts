/**
 * What each job state means for the UI: which are active or finished, which colour they get,
 * and which actions they allow. Not responsible for transitions (the server owns them).
 */
import type { BadgeTone } from "@/components/ui/badge";
import type { Job, JobState } from "@/api/types";

export const ACTIVE_JOB_STATES: readonly JobState[] = ["queued", "running"];
export const FINISHED_JOB_STATES: readonly JobState[] = ["succeeded", "failed", "cancelled"];

export const JOB_STATE_TONES: Record<JobState, BadgeTone> = {
  queued: "info",
  running: "active",
  succeeded: "success",
  failed: "danger",
  cancelled: "muted",
  interrupted: "warning",
};

export type JobAction = "cancel" | "resume" | "retry" | "delete";

/**
 * Buttons shown for a job: cancel while queued/running; resume after an interruption, a cancel or
 * a failure (continues from the checkpoint when there is one); retry (a fresh attempt) and delete
 * once finished; no delete for a job a record made (it is deleted with that record).
 */
export function availableJobActions(job: Pick<Job, "state"> & Partial<Pick<Job, "params">>): JobAction[] {
  const actions: JobAction[] = [];
  if (ACTIVE_JOB_STATES.includes(job.state)) actions.push("cancel");
  if (job.state === "interrupted" || job.state === "cancelled" || job.state === "failed") {
    actions.push("resume");
  }
  if (FINISHED_JOB_STATES.includes(job.state)) {
    actions.push("retry");
    if (!jobOwner(job)) actions.push("delete");  // an owned job goes with its record (409)
  }
  return actions;
}

/** The record a job made, named by its params; the server deletes such a job only with it. */
export type JobOwner = { kind: "extraction" | "tokenization" | "dataset" | "model"; id: number;
  href: string };

const OWNER_PARAMS: readonly [string, JobOwner["kind"], (id: number) => string][] = [
  ["extraction_id", "extraction", (id) => `/extractions/${id}`],
  ["tokenization_id", "tokenization", () => "/datasets"],
  ["dataset_id", "dataset", (id) => `/datasets/${id}`],
  ["model_id", "model", () => "/models"],
];

export function jobOwner(job: Partial<Pick<Job, "params">>): JobOwner | null {
  for (const [key, kind, href] of OWNER_PARAMS) {
    const id = job.params?.[key];
    if (typeof id === "number") return { kind, id, href: href(id) };
  }
  return null;
}
