/**
 * What each job state means for the UI: which are active or finished, which colour they get,
 * and which actions they allow. Not responsible for transitions (the server owns them).
 */
import type { BadgeTone } from "@/components/ui/badge";
import type { Job, JobState } from "@/api/types";
import { FINISHED_JOB_STATES } from "@/lib/live-job";

export const ACTIVE_JOB_STATES: readonly JobState[] = ["queued", "running"];
/** The states a job stopped in before finishing its work: resume and retry are for these (the
 * server refuses a retry of a succeeded job: it would delete its results to compute them again). */
export const STOPPED_JOB_STATES: readonly JobState[] = ["interrupted", "cancelled", "failed"];

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
 * Buttons shown for a job: cancel while queued/running; resume (continues from the checkpoint
 * when there is one) and retry (a fresh attempt) after an interruption, a cancel or a failure,
 * never after a success (a walk found Retry on succeeded jobs: it deleted finished results to
 * compute the same again); delete once finished, but not for a job a record made (it is deleted
 * with that record).
 */
export function availableJobActions(job: Pick<Job, "state" | "owner">): JobAction[] {
  const actions: JobAction[] = [];
  if (ACTIVE_JOB_STATES.includes(job.state)) actions.push("cancel");
  if (STOPPED_JOB_STATES.includes(job.state)) actions.push("resume", "retry");
  // an owned job goes with its record (409)
  // finished as the server's delete rule has it (interrupted too: a list of its own here left
  // an interrupted job without an owner no Delete, which the server allows)
  if (FINISHED_JOB_STATES.has(job.state) && !job.owner) actions.push("delete");
  return actions;
}

/** The drawer's checkpoint field: "resume continues from it" only where resume is offered (a
 * succeeded job keeps its checkpoint, but nothing resumes it). */
export function checkpointText(job: Pick<Job, "state" | "owner" | "has_checkpoint">): string {
  if (!job.has_checkpoint) return "none";
  return availableJobActions(job).includes("resume") ? "yes (resume continues from it)" : "yes";
}

/** The record a job made, as the server names it (`owner`: the rule its delete follows, not a
 * guess from the params: a job its record no longer points at has none), with where it is shown. */
export type JobOwner = NonNullable<Job["owner"]> & { href: string };

const OWNER_PAGES: Record<JobOwner["kind"], (id: number) => string> = {
  extraction: (id) => `/extractions/${id}`,
  tokenization: () => "/datasets",
  dataset: (id) => `/datasets/${id}`,
  model: () => "/models",
};

export function jobOwner(job: Pick<Job, "owner">): JobOwner | null {
  return job.owner ? { ...job.owner, href: OWNER_PAGES[job.owner.kind](job.owner.id) } : null;
}

/** The extraction an `extraction_export` job exports (its params' `extraction_id`): it owns no
 * record (deleting it leaves the extraction), so it had no link at all; null for other kinds. */
export function exportedExtraction(job: Pick<Job, "kind" | "params">): JobOwner | null {
  const id = job.kind === "extraction_export"
    ? (job.params as Record<string, unknown> | null)?.extraction_id : undefined;
  return typeof id === "number" ? { kind: "extraction", id, href: OWNER_PAGES.extraction(id) } : null;
}
