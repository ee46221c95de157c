/**
 * A job's progress: the bar plus "done / total unit" and the percentage.
 * Not responsible for rate and ETA columns (the row formats those).
 */
import type { Job } from "@/api/types";
import { ProgressBar } from "@/components/ui/progress-bar";
import { formatDoneOfTotal, formatFraction } from "@/lib/format";

type ProgressFields = Pick<Job, "id" | "state" | "progress" | "done" | "total" | "unit" | "rate">;

/** A running stage that has counted nothing and measured no rate yet: its first unit of work
 * (an extraction's first batch: 10+ s on a CPU) is under way. "0 / 16,384 tokens · 0.0 %" read
 * as stuck; it is drawn as starting, with no percentage. */
export function startingToCount(job: Pick<Job, "state" | "done" | "rate">): boolean {
  return job.state === "running" && job.done === 0 && job.rate === null;
}

/** The fraction to draw: the server's `progress`, else done/total, else a state-based default. */
export function jobProgressFraction(job: ProgressFields): number | null {
  if (startingToCount(job)) return null;  // indeterminate: at work, nothing counted yet
  if (job.progress !== null && Number.isFinite(job.progress)) return job.progress;
  if (job.done !== null && job.total !== null && job.total > 0) return job.done / job.total;
  if (job.state === "succeeded") return 1;
  if (job.state === "running") return null; // running with no measure yet: indeterminate
  return 0;
}

const TONES = {
  queued: "muted",
  running: "active",
  succeeded: "success",
  failed: "danger",
  cancelled: "muted",
  interrupted: "muted",
} as const;

export function JobProgress({ job }: { job: ProgressFields }) {
  const fraction = jobProgressFraction(job);
  const counts = startingToCount(job)
    ? `starting · ${formatDoneOfTotal(null, job.total, job.unit)}`
    : formatDoneOfTotal(job.done, job.total, job.unit);
  return (
    <div className="job-progress">
      <ProgressBar value={fraction} label={`Job ${job.id} progress`} tone={TONES[job.state]} />
      <div className="job-progress__text num">
        <span data-testid="job-progress-counts">{counts}</span>
        {/* "100.0 %" broke into "100.0" and "%" on two lines in a narrow column */}
        <span className="nowrap" data-testid="job-progress-percent">
          {fraction === null ? "" : formatFraction(fraction)}
        </span>
      </div>
    </div>
  );
}
