/**
 * A model's live job progress: bar, bytes done of total, speed, ETA and the current file/stage.
 * Not responsible for receiving updates (the cache is fed by WebSocket events).
 */
import { ProgressBar } from "@/components/ui/progress-bar";
import { formatEtaLeft, useEtaCountdown } from "@/lib/eta-countdown";
import { formatDoneOfTotal, formatFraction, formatRate } from "@/lib/format";
import type { ModelJob } from "../types";

export function modelJobFraction(job: ModelJob): number | null {
  if (job.progress !== null && Number.isFinite(job.progress)) return job.progress;
  if (job.done !== null && job.total) return job.done / job.total;
  return job.state === "running" ? null : 0;
}

export function ModelProgress({ job }: { job: ModelJob }) {
  const fraction = modelJobFraction(job);
  const etaLeft = useEtaCountdown(job.eta_s, job.done);  // ticks between events
  return (
    <div className="model-card__progress">
      <ProgressBar value={fraction} label={`Model job ${job.id} progress`} />
      <div className="num">
        <span>{job.stage ?? job.state}</span>{" "}
        <span data-testid="model-progress-counts">
          {formatDoneOfTotal(job.done, job.total, job.unit)}
        </span>{" "}
        {fraction !== null && <span>{formatFraction(fraction)}</span>}{" "}
        {job.rate !== null && <span>· {formatRate(job.rate, job.unit)}</span>}{" "}
        {etaLeft !== null && <span>· ETA {formatEtaLeft(etaLeft)}</span>}
      </div>
      {job.message && <div className="muted">{job.message}</div>}
    </div>
  );
}
