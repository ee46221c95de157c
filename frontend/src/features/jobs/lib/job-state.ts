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
 * once finished.
 */
export function availableJobActions(job: Pick<Job, "state">): JobAction[] {
  const actions: JobAction[] = [];
  if (ACTIVE_JOB_STATES.includes(job.state)) actions.push("cancel");
  if (job.state === "interrupted" || job.state === "cancelled" || job.state === "failed") {
    actions.push("resume");
  }
  if (FINISHED_JOB_STATES.includes(job.state)) actions.push("retry", "delete");
  return actions;
}
