/**
 * One job as a dense table row: id, kind, state, stage, progress, rate, ETA, times, message,
 * actions. Not responsible for fetching or live updates (the cache feeds it new jobs).
 */
import { Link, useLocation } from "react-router";
import type { Job } from "@/api/types";
import { formatEtaLeft, useEtaCountdown } from "@/lib/eta-countdown";
import { formatFullTimestamp, formatRate, formatTimestamp, MISSING } from "@/lib/format";
import { JobActions } from "./job-actions";
import { JobProgress } from "./job-progress";
import { JobStateBadge } from "./job-state-badge";

function TimeCell({ iso }: { iso: string | null }) {
  return (
    <td className="num nowrap" title={formatFullTimestamp(iso)}>
      {formatTimestamp(iso)}
    </td>
  );
}

function MessageCell({ job }: { job: Job }) {
  if (job.error_message) {
    return (
      <td className="cell-message cell-message--error" title={job.error_message}>
        {job.error_code && <code>{job.error_code}</code>} {job.error_message}
      </td>
    );
  }
  return (
    <td className="cell-message" title={job.message ?? undefined}>
      {job.message ?? ""}
    </td>
  );
}

export function JobRow({ job }: { job: Job }) {
  const { search } = useLocation();
  const running = job.state === "running";
  const etaLeft = useEtaCountdown(job.eta_s, job.updated_at);  // ticks between events
  return (
    <tr data-testid={`job-row-${job.id}`} data-job-id={job.id}>
      <td className="num">
        <Link to={{ pathname: `/jobs/${job.id}`, search }} aria-label={`Open job ${job.id}`}>
          #{job.id}
        </Link>
      </td>
      <td className="mono">{job.kind}</td>
      <td>
        <JobStateBadge job={job} />
      </td>
      <td className="mono">{job.stage ?? MISSING}</td>
      <td className="cell-progress">
        <JobProgress job={job} />
      </td>
      <td>
        <JobActions job={job} />
      </td>
      <td className="num nowrap">{running ? formatRate(job.rate, job.unit) : MISSING}</td>
      <td className="num nowrap">{running ? formatEtaLeft(etaLeft) : MISSING}</td>
      <TimeCell iso={job.created_at} />
      <TimeCell iso={job.started_at} />
      <TimeCell iso={job.finished_at} />
      <MessageCell job={job} />
    </tr>
  );
}
