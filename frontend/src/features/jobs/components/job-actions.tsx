/**
 * The action buttons a job's state allows (cancel, resume, retry, delete), each calling its API
 * operation; delete asks for a second click. Not responsible for deciding which actions a state
 * allows (see `lib/job-state.ts`).
 */
import { useEffect, useState } from "react";
import { Link } from "react-router";
import type { Job } from "@/api/types";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { FINISHED_JOB_STATES } from "@/lib/live-job";
import { useCancelJob } from "../api/cancel-job";
import { useDeleteJob } from "../api/delete-job";
import { useResumeJob } from "../api/resume-job";
import { useRetryJob } from "../api/retry-job";
import {
  availableJobActions, exportedExtraction, jobOwner,
} from "../lib/job-state";

const CONFIRM_WINDOW_MS = 4_000;

/** A retry starts over from nothing: what a stopped job's last run kept (its checkpoint: an
 * extraction's whole shards, say) is dropped, where Resume continues from it, so ask. (A
 * succeeded job is not retried at all.) */
export function retryQuestion(job: Pick<Job, "id" | "has_checkpoint">): string | null {
  if (!job.has_checkpoint) return null;
  return `Retry job ${job.id} from the start? What its last run kept is dropped; Resume `
    + "continues from it instead.";
}

export function JobActions({ job }: {
  job: Pick<Job, "id" | "state" | "cancel_requested" | "owner" | "kind" | "params"
    | "has_checkpoint">;
}) {
  const cancel = useCancelJob();
  const resume = useResumeJob();
  const retry = useRetryJob();
  const remove = useDeleteJob();
  const [confirmingDelete, setConfirmingDelete] = useState(false);

  useEffect(() => {
    if (!confirmingDelete) return;
    const timer = setTimeout(() => setConfirmingDelete(false), CONFIRM_WINDOW_MS);
    return () => clearTimeout(timer);
  }, [confirmingDelete]);

  const actions = availableJobActions(job);
  const owner = jobOwner(job);
  const exported = owner ? null : exportedExtraction(job);
  const pending = cancel.isPending || resume.isPending || retry.isPending || remove.isPending;
  const error = cancel.error ?? resume.error ?? retry.error ?? remove.error;

  return (
    <div className="job-actions">
      {actions.includes("cancel") && (
        <Button
          size="sm"
          variant="danger"
          disabled={pending || job.cancel_requested}
          onClick={() => cancel.mutate(job.id)}
        >
          {job.cancel_requested ? "Cancelling…" : "Cancel"}
        </Button>
      )}
      {actions.includes("resume") && (
        <Button size="sm" disabled={pending} onClick={() => resume.mutate(job.id)}>
          Resume
        </Button>
      )}
      {actions.includes("retry") && (
        <Button size="sm" disabled={pending} onClick={() => {
          const question = retryQuestion(job);
          if (question && !window.confirm(question)) return;
          retry.mutate(job.id);
        }}>
          Retry
        </Button>
      )}
      {actions.includes("delete") && (
        <Button
          size="sm"
          variant={confirmingDelete ? "danger" : "ghost"}
          disabled={pending}
          onClick={() => {
            if (confirmingDelete) remove.mutate(job.id);
            setConfirmingDelete(!confirmingDelete);
          }}
        >
          {confirmingDelete ? "Confirm delete" : "Delete"}
        </Button>
      )}
      {owner && FINISHED_JOB_STATES.has(job.state) && (
        <span className="muted nowrap" title={`deleted with its ${owner.kind}`}>
          <Link to={owner.href}>{owner.kind} #{owner.id}</Link>
        </span>
      )}
      {exported && (
        <span className="muted nowrap" title={`the ${exported.kind} this job exports`}>
          export of <Link to={exported.href}>{exported.kind} #{exported.id}</Link>
        </span>
      )}
      {error && <ErrorMessage error={error} />}
    </div>
  );
}
