/**
 * The model card's buttons: pause (keep partial files), cancel (remove them), resume, retry,
 * delete, asked first (a 409 `model_in_use` lists what depends on the model and offers a forced
 * delete, asked first too).
 * Not responsible for which actions apply (see `lib/model-status.ts`).
 */
import { useState } from "react";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { ApiError } from "@/lib/api-client";
import { useCancelModel } from "../api/cancel-model";
import { useDeleteModel } from "../api/delete-model";
import { useResumeModel } from "../api/resume-model";
import { useRetryModel } from "../api/retry-model";
import { availableModelActions } from "../lib/model-status";
import type { Model } from "../types";

export function ModelActions({ model }: { model: Model }) {
  const cancel = useCancelModel();
  const resume = useResumeModel();
  const retry = useRetryModel();
  const remove = useDeleteModel();
  const [token, setToken] = useState("");
  const gated = Boolean((model.info as { gated?: boolean }).gated);
  const actions = availableModelActions(model);
  const inUse = remove.error instanceof ApiError && remove.error.code === "model_in_use";
  const error = cancel.error ?? resume.error ?? retry.error ?? remove.error;
  const busy = cancel.isPending || resume.isPending || retry.isPending || remove.isPending;

  return (
    <div className="model-card__actions">
      {actions.includes("pause") && (
        <Button size="sm" disabled={busy}
          onClick={() => cancel.mutate({ id: model.id, query: { keep_partial: true } })}>
          Pause
        </Button>
      )}
      {actions.includes("cancel") && (
        <Button size="sm" disabled={busy} onClick={() => cancel.mutate({ id: model.id })}>
          Cancel
        </Button>
      )}
      {gated && (actions.includes("resume") || actions.includes("retry")) && (
        <input
          type="password"
          aria-label="Access token for resume"
          placeholder="token (gated repo)"
          autoComplete="off"
          value={token}
          onChange={(e) => setToken(e.target.value)}
        />
      )}
      {actions.includes("resume") && (
        <Button size="sm" disabled={busy} onClick={() => resume.mutate({ id: model.id, token })}>
          Resume
        </Button>
      )}
      {actions.includes("retry") && (
        <Button size="sm" disabled={busy} onClick={() => retry.mutate({ id: model.id, token })}>
          Retry
        </Button>
      )}
      {actions.includes("delete") && (
        <Button size="sm" variant="danger" disabled={busy}
          onClick={() => {
            if (window.confirm(`Delete model “${model.name}” and its files?`))
              remove.mutate({ id: model.id, force: false });
          }}>
          Delete
        </Button>
      )}
      {inUse && (
        <Button size="sm" variant="danger" disabled={busy}
          onClick={() => {
            const question = `Delete model “${model.name}” with all its extractions and `
              + "tokenizations, and their files?";
            if (window.confirm(question)) remove.mutate({ id: model.id, force: true });
          }}>
          Delete with its extractions
        </Button>
      )}
      {error && <ErrorMessage error={error} />}
    </div>
  );
}
