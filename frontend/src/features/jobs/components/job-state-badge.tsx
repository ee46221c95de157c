/**
 * A job's state as a coloured badge ("cancelling" while a cancel is pending).
 * Not responsible for what the states mean (see `lib/job-state.ts`).
 */
import type { Job } from "@/api/types";
import { Badge } from "@/components/ui/badge";
import { JOB_STATE_TONES } from "../lib/job-state";

export function JobStateBadge({ job }: { job: Pick<Job, "state" | "cancel_requested"> }) {
  const cancelling = job.cancel_requested && (job.state === "running" || job.state === "queued");
  return (
    <span data-testid="job-state" data-state={job.state}>
      <Badge tone={cancelling ? "warning" : JOB_STATE_TONES[job.state]}>
        {cancelling ? "cancelling" : job.state}
      </Badge>
    </span>
  );
}
