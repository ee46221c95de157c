/**
 * DownloadForm: repo id, revision, precision and an access token (a password field kept only in
 * this component's state, never stored; cleared once the download is queued). "Preflight" shows
 * what the repo holds and costs; "Download" confirms. A gated repo's error shows its access link.
 * Not responsible for following the download (the model card does).
 */
import { type FormEvent, useState } from "react";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { ApiError } from "@/lib/api-client";
import { useCreateModel } from "../api/create-model";
import { usePreflightModel } from "../api/preflight-model";
import type { Precision } from "../types";
import { DRIFT_PRECISIONS, DriftCheckbox, PrecisionSelect } from "./precision-select";
import { PreflightSummary } from "./preflight-summary";

function AccessLink({ error }: { error: unknown }) {
  if (!(error instanceof ApiError) || error.code !== "gated_repo") return null;
  const url = String(error.details.access_url ?? "");
  return (
    <p>
      Request access at{" "}
      <a href={url} target="_blank" rel="noreferrer">
        {url}
      </a>
      , then paste a token of the approved account.
    </p>
  );
}

export function DownloadForm() {
  const [repoId, setRepoId] = useState("");
  const [revision, setRevision] = useState("main");
  const [precision, setPrecision] = useState<Precision>("fp32");
  const [token, setToken] = useState("");
  const [allDrift, setAllDrift] = useState(false);
  const preflight = usePreflightModel();
  const create = useCreateModel();
  // the precisions go to the preflight too: a q4 / q2 import keeps packed layers on disk
  const request = {
    repo_id: repoId.trim(),
    revision: revision.trim() || "main",
    precision,
    drift_precisions: allDrift ? DRIFT_PRECISIONS : [],
  };
  const asked = preflight.variables;
  const checked =
    preflight.data && preflight.data.repo_id === request.repo_id && asked?.revision
      === request.revision && asked.precision === precision
      && (asked.drift_precisions?.length ?? 0) === request.drift_precisions.length
      ? preflight.data : null;

  const runPreflight = (event: FormEvent) => {
    event.preventDefault();
    create.reset();
    preflight.mutate({ ...request, token: token || null });
  };

  const confirm = () => {
    create.mutate(
      { ...request, token: token || null },
      {
        onSuccess: () => {
          setToken("");
          preflight.reset();
        },
      },
    );
  };

  const error = preflight.error ?? create.error;
  return (
    <form className="model-form" onSubmit={runPreflight} aria-label="Download a model">
      <h2>Download from the Hub</h2>
      <div className="model-form__row">
        <label>
          <span>Repo id</span>
          <input
            required
            placeholder="org/name"
            value={repoId}
            onChange={(e) => setRepoId(e.target.value)}
          />
        </label>
        <label>
          <span>Revision</span>
          <input value={revision} onChange={(e) => setRevision(e.target.value)} />
        </label>
      </div>
      <div className="model-form__row">
        <PrecisionSelect value={precision} onChange={setPrecision} />
        <DriftCheckbox checked={allDrift} onChange={setAllDrift} />
        <label>
          <span>Access token (gated/private only; not stored)</span>
          <input
            type="password"
            autoComplete="off"
            value={token}
            onChange={(e) => setToken(e.target.value)}
          />
        </label>
      </div>
      <div className="model-form__row">
        <Button type="submit" disabled={preflight.isPending || !request.repo_id}>
          {preflight.isPending ? "Checking…" : "Preflight"}
        </Button>
        <Button variant="primary" disabled={!checked || create.isPending} onClick={confirm}>
          {create.isPending ? "Starting…" : "Download"}
        </Button>
      </div>
      {checked && <PreflightSummary preflight={checked} />}
      {error && <ErrorMessage error={error} title="Not started:" />}
      <AccessLink error={error} />
    </form>
  );
}
