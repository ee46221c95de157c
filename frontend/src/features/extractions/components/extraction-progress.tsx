/**
 * An extraction's live job progress: bar, tokens done of total, tokens/s, ETA, and the job
 * message (GB captured and written, projected bound); the ETA counts down between events; a
 * resumed run waiting in the queue shows its last attempt's count as that. Once a run stops short (cancelled, failed)
 * only the job's last message stays: what the store kept ("kept 7,767 rows in 1 whole shard ·
 * 0.270 GB written; resume to continue from there"), the one place a user learns what Resume
 * keeps and Retry throws away. Reads the job from the cache the WebSocket feeds (`useLiveJob`);
 * when the job finishes, or a running job reaches a stage the extraction was not fetched at, it
 * refreshes the extraction queries once: the job writes the row itself at its stages (the
 * precision it loaded at, a worker's measured preflight and bound), which no event carries.
 * Not responsible for receiving events.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import type { Job } from "@/api/types";
import { ProgressBar } from "@/components/ui/progress-bar";
import { formatEtaLeft, useEtaCountdown } from "@/lib/eta-countdown";
import { formatDoneOfTotal, formatRate } from "@/lib/format";
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
  // "asked fp32; known once the model is loaded" and "bound ?" stayed for the whole run: the
  // row was fetched when the run was queued, and only its end refetched it
  const liveStage = job?.state === "running" ? job.stage : null;
  const fetchedStage = extraction.job?.state === "running" ? extraction.job.stage : null;
  const { id } = extraction;
  useEffect(() => {
    if (liveStage === null || liveStage === fetchedStage) return;
    // each of the page's users of this hook asks: one fetch in flight serves them all
    for (const queryKey of [extractionKeys.detail(id), extractionKeys.lists()]) {
      void queryClient.invalidateQueries({ queryKey }, { cancelRefetch: false });
    }
  }, [liveStage, fetchedStage, id, queryClient]);
  return job;
}

/** The running `extract` stage before its first batch's report: the engine's first report says
 * where the run starts (0 tokens, or the tokens a resume kept) and computes nothing, so the job
 * has no rate yet (the reporter measures one from the first batch the attempt computed, never
 * from that start). On a CPU the first batch takes 10 s and more, and "extract 0 / 16,384
 * tokens" at 0 % read as stuck: the run says it is computing the first batch instead. */
export function computingFirstBatch(
  job: Pick<Job, "state" | "stage" | "done" | "rate">,
): boolean {
  return job.state === "running" && job.stage === "extract" && job.done !== null
    && job.rate === null;
}

const LAST_REPORT_PREFIX: Record<string, string> = {
  interrupted: "Last report before it stopped:",
  failed: "Last report before it failed:",
};

export function ExtractionProgress({ extraction }: { extraction: Extraction }) {
  const job = useExtractionJob(extraction);
  const etaLeft = useEtaCountdown(job?.eta_s, job?.updated_at);  // ticks between events
  if (!job || job.state === "succeeded") return null;
  if (FINISHED_JOB_STATES.has(job.state)) {
    if (!job.message) return null;
    // a worker killed (kill -9, OOM killer) writes no last line: its message is the running one
    // ("0.425 GB captured · 0.270 GB written in whole shards · projected bound: compute"), which
    // read as the state of a run that was no longer running; so does a run that failed before
    // it had a store ("checking hook points, tokens and free disk" beside its error)
    const last = job.state in LAST_REPORT_PREFIX
      ? `${LAST_REPORT_PREFIX[job.state]} ${job.message}` : job.message;
    return <div className="muted" data-testid="extraction-kept">{last}</div>;
  }
  const firstBatch = computingFirstBatch(job);
  // nothing done yet: an indeterminate bar while the first batch is computed, not a 0 % one
  // (a resume's kept tokens stay drawn: they are done)
  const fraction = firstBatch && !job.done ? null
    : job.progress ?? (job.done !== null && job.total ? job.done / job.total : null);
  // a resumed run waits in the queue with the count its last attempt reached: not a stage at work
  const held = job.state === "queued" && job.done !== null;
  // a stage that knows its total but has not counted yet (the engine's first report says where
  // it starts: a resume's stored tokens): "starting", not a count ("extract ? / 16,384 tokens")
  const starting = job.state === "running" && job.done === null && job.total !== null;
  return (
    <div className="extraction-progress">
      <ProgressBar value={fraction} label={`Extraction ${extraction.id} progress`} />
      <div className="num">
        <span>{job.state === "running" ? (job.stage ?? job.state) : job.state}</span>{" "}
        <span data-testid="extraction-progress-counts">
          {starting && "starting · "}
          {firstBatch && "computing the first batch… · "}
          {firstBatch && !job.done ? formatDoneOfTotal(null, job.total, job.unit)
            : formatDoneOfTotal(job.done, job.total, job.unit)}
          {firstBatch && !!job.done && " kept"}
          {held && " reached by the last attempt"}
        </span>
        {job.rate !== null && <span> · {formatRate(job.rate, job.unit)}</span>}
        {etaLeft !== null && <span> · ETA {formatEtaLeft(etaLeft)}</span>}
      </div>
      {job.message && <div className="muted" data-testid="extraction-message">{job.message}</div>}
    </div>
  );
}
