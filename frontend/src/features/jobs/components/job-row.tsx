/**
 * One job as a dense table row: id, kind, state, stage, progress, rate, ETA, times, message,
 * actions; each cell a narrow table leaves out carries its step (`data-drop`, `lib/job-columns`).
 * Not responsible for fetching or live updates (the cache feeds it new jobs).
 */
import { Fragment } from "react";
import { Link, useLocation } from "react-router";
import type { Job } from "@/api/types";
import { formatEtaLeft, useEtaCountdown } from "@/lib/eta-countdown";
import { formatFullTimestamp, formatRate, formatTimestamp, MISSING } from "@/lib/format";
import { JobActions } from "./job-actions";
import { JobProgress } from "./job-progress";
import { DROP } from "../lib/job-columns";
import { JobStateBadge } from "./job-state-badge";

function TimeCell({ iso }: { iso: string | null }) {
  return (
    <td className="num nowrap" title={formatFullTimestamp(iso)} data-drop={DROP.times}>
      {formatTimestamp(iso)}
    </td>
  );
}

/** The kind, breakable after each "_" only ("dataset_import" folds as "dataset_" / "import" in
 * a narrow table, never mid-word); its text is the kind as it is. */
function KindText({ kind }: { kind: string }) {
  const parts = kind.split("_");
  return parts.map((part, i) => (
    <Fragment key={i}>{part}{i < parts.length - 1 && <>_<wbr /></>}</Fragment>
  ));
}

/** A cancel is stored as an error ("cancelled" / "cancelled by user") but is none: the row shows
 * its message plainly, without repeating the code; a failure keeps its code, in the error colour. */
function MessageCell({ job }: { job: Job }) {
  if (job.error_message && job.state !== "cancelled") {
    return (
      <td className="cell-message cell-message--error" title={job.error_message}
        data-drop={DROP.message}>
        {job.error_code && <code>{job.error_code}</code>} {job.error_message}
      </td>
    );
  }
  return (
    <td className="cell-message" title={job.message ?? job.error_message ?? undefined}
      data-drop={DROP.message}>
      {job.message ?? job.error_message ?? ""}
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
      <td className="mono cell-kind">
        <KindText kind={job.kind} />
        {/* the stage, where a narrow table leaves its column out */}
        {job.stage && <span className="jobs-table__stage">{job.stage}</span>}
      </td>
      <td>
        <JobStateBadge job={job} />
      </td>
      <td className="mono" data-drop={DROP.stage}>{job.stage ?? MISSING}</td>
      <td className="cell-progress">
        <JobProgress job={job} />
      </td>
      <td>
        <JobActions job={job} />
      </td>
      <td className="num nowrap" data-drop={DROP.rate}>
        {running ? formatRate(job.rate, job.unit) : MISSING}
      </td>
      <td className="num nowrap" data-drop={DROP.eta}>
        {running ? formatEtaLeft(etaLeft) : MISSING}
      </td>
      <TimeCell iso={job.created_at} />
      <TimeCell iso={job.started_at} />
      <TimeCell iso={job.finished_at} />
      <MessageCell job={job} />
    </tr>
  );
}
