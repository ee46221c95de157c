/**
 * An extraction's live job progress: bar, tokens done of total, tokens/s, ETA, and the job
 * message (GB captured and written, projected bound). Once a run stops short (cancelled, failed)
 * only the job's last message stays: what the store kept ("kept 7,767 rows in 1 whole shards ·
 * 0.270 GB written; resume to continue from there"), the one place a user learns what Resume
 * keeps and Retry throws away. Reads the job from the cache the WebSocket feeds (`useLiveJob`);
 * when the job finishes it refreshes the extraction queries once.
 * Not responsible for receiving events.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { ProgressBar } from "@/components/ui/progress-bar";
import { formatDoneOfTotal, formatEta, formatRate } from "@/lib/format";
import { FINISHED_JOB_STATES, useLiveJob } from "@/lib/live-job";
import { extractionKeys } from "../api/extraction-keys";
import type { Extraction } from "../types";

export function useExtractionJob(extraction: Extraction) {
  const job = useLiveJob(extraction.job_id, extraction.job).data ?? extraction.job;
  const queryClient = useQueryClient();
  const finished = job ? FINISHED_JOB_STATES.has(job.state) : false;
  const stale = finished && extraction.job?.state !== job?.state;
  useEffect(() => {
    if (stale) void queryClient.invalidateQueries({ queryKey: extractionKeys.all });
  }, [stale, queryClient]);
  return job;
}

export function ExtractionProgress({ extraction }: { extraction: Extraction }) {
  const job = useExtractionJob(extraction);
  if (!job || job.state === "succeeded") return null;
  if (FINISHED_JOB_STATES.has(job.state)) {
    return job.message ? <div className="muted" data-testid="extraction-kept">{job.message}</div> : null;
  }
  const fraction = job.progress ?? (job.done !== null && job.total ? job.done / job.total : null);
  return (
    <div className="extraction-progress">
      <ProgressBar value={fraction} label={`Extraction ${extraction.id} progress`} />
      <div className="num">
        <span>{job.stage ?? job.state}</span>{" "}
        <span data-testid="extraction-progress-counts">
          {formatDoneOfTotal(job.done, job.total, job.unit)}
        </span>
        {job.rate !== null && <span> · {formatRate(job.rate, job.unit)}</span>}
        {job.eta_s !== null && <span> · ETA {formatEta(job.eta_s)}</span>}
      </div>
      {job.message && <div className="muted" data-testid="extraction-message">{job.message}</div>}
    </div>
  );
}
