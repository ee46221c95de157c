/**
 * The job detail drawer (`/jobs/:jobId`): state, progress, error, params, result, timestamps and
 * bookkeeping (attempt, worker, checkpoint). Not responsible for the table behind it.
 */
import { useCallback } from "react";
import { useLocation, useNavigate, useParams } from "react-router";
import type { Job } from "@/api/types";
import { Drawer } from "@/components/ui/drawer";
import { ErrorMessage } from "@/components/ui/error-message";
import { JsonView } from "@/components/ui/json-view";
import { formatEtaLeft, useEtaCountdown } from "@/lib/eta-countdown";
import { formatFullTimestamp, formatRate, MISSING } from "@/lib/format";
import { useJob } from "../api/get-job";
import { checkpointText } from "../lib/job-state";
import { JobActions } from "./job-actions";
import { JobProgress } from "./job-progress";
import { JobStages } from "./job-stages";
import { JobStateBadge } from "./job-state-badge";

const TIMESTAMPS = [
  ["Created", "created_at"],
  ["Started", "started_at"],
  ["Finished", "finished_at"],
  ["Updated", "updated_at"],
  ["Heartbeat", "heartbeat_at"],
] as const satisfies readonly (readonly [string, keyof Job])[];

function JobDetail({ job }: { job: Job }) {
  const etaLeft = useEtaCountdown(job.eta_s, job.updated_at);  // ticks between events
  return (
    <div className="job-detail">
      <div className="job-detail__status">
        <JobStateBadge job={job} />
        <span className="mono">{job.stage ?? ""}</span>
        <JobActions job={job} />
      </div>
      <JobProgress job={job} />
      {job.message && <p className="job-detail__message">{job.message}</p>}
      {job.error_message && (
        <ErrorMessage
          title={job.error_code ?? "error"}
          error={new Error(job.error_message)}
        />
      )}

      <dl className="fields">
        <dt>Rate</dt>
        <dd className="num">{formatRate(job.rate, job.unit)}</dd>
        <dt>ETA</dt>
        <dd className="num">{job.state === "running" ? formatEtaLeft(etaLeft) : MISSING}</dd>
        <dt>Attempt</dt>
        <dd className="num">{job.attempt}</dd>
        <dt>Checkpoint</dt>
        <dd>{checkpointText(job)}</dd>
        <dt>Worker</dt>
        <dd className="mono">{job.worker_id ?? MISSING}</dd>
        <dt>Cancel requested</dt>
        <dd>{job.cancel_requested ? "yes" : "no"}</dd>
        {TIMESTAMPS.map(([label, field]) => (
          <div key={field} className="fields__pair">
            <dt>{label}</dt>
            <dd className="num">{formatFullTimestamp(job[field] as string | null)}</dd>
          </div>
        ))}
      </dl>

      {job.stages && job.stages.length > 0 && (
        <>
          <h3 className="section-title">Finished stages</h3>
          <JobStages stages={job.stages} />
        </>
      )}
      <h3 className="section-title">Params</h3>
      <JsonView value={job.params} label="Job params" />
      <h3 className="section-title">Result</h3>
      <JsonView value={job.result} label="Job result" />
    </div>
  );
}

export function JobDetailDrawer() {
  const { jobId } = useParams();
  const id = Number(jobId);
  const navigate = useNavigate();
  const { search } = useLocation();
  const close = useCallback(() => navigate({ pathname: "/jobs", search }), [navigate, search]);
  const job = useJob(id);

  return (
    <Drawer title={`Job #${Number.isFinite(id) ? id : "?"}${job.data ? ` · ${job.data.kind}` : ""}`} onClose={close}>
      {!Number.isInteger(id) && <ErrorMessage error={new Error(`"${jobId}" is not a job id.`)} />}
      {job.isPending && Number.isInteger(id) && <p className="muted">Loading…</p>}
      {job.error && <ErrorMessage error={job.error} title="Could not load this job:" />}
      {job.data && <JobDetail job={job.data} />}
    </Drawer>
  );
}
