/**
 * "From the Hub": dataset id, revision, config, split, text column, the longest line or record
 * (`RecordLimitField`) and an optional access token
 * (sent for this import only; the server never stores it). A gated dataset without token answers
 * 403 `hub_token_required`, shown with the field to fill. Not responsible for the import job.
 */
import { type FormEvent, useState } from "react";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { ApiError } from "@/lib/api-client";
import { useCreateDataset } from "../api/create-dataset";
import { DEFAULT_READ_OPTIONS, type Dataset } from "../types";
import { RecordLimitField, useRecordLimit } from "./record-limit-field";

export function AddHubForm({ onCreated }: { onCreated: (dataset: Dataset) => void }) {
  const [repoId, setRepoId] = useState("");
  const [revision, setRevision] = useState("main");
  const [config, setConfig] = useState("default");
  const [split, setSplit] = useState("train");
  const [textColumn, setTextColumn] = useState("");
  const [token, setToken] = useState("");
  const recordLimit = useRecordLimit();
  const create = useCreateDataset();
  const needsToken = create.error instanceof ApiError && create.error.code === "hub_token_required";

  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate(
      {
        source: "hub",
        repo_id: repoId.trim(),
        revision,
        config,
        split,
        token: token || null,
        read: { ...DEFAULT_READ_OPTIONS, text_column: textColumn || null,
          max_record_bytes: recordLimit.bytes ?? DEFAULT_READ_OPTIONS.max_record_bytes },
      },
      { onSuccess: (dataset) => (setToken(""), onCreated(dataset)) },
    );
  };

  return (
    <form className="form-grid" onSubmit={submit} aria-label="Add from the Hub">
      <label>
        <span>Dataset id</span>
        <input required placeholder="org/name" value={repoId} onChange={(e) => setRepoId(e.target.value)} />
      </label>
      <div className="form-row">
        <label>
          <span>Revision</span>
          <input value={revision} onChange={(e) => setRevision(e.target.value)} />
        </label>
        <label>
          <span>Config</span>
          <input value={config} onChange={(e) => setConfig(e.target.value)} />
        </label>
        <label>
          <span>Split</span>
          <input value={split} onChange={(e) => setSplit(e.target.value)} />
        </label>
      </div>
      <div className="form-row">
        <label>
          <span>Text column (empty: detected)</span>
          <input value={textColumn} onChange={(e) => setTextColumn(e.target.value)} />
        </label>
        <RecordLimitField limit={recordLimit} id="hub-record-limit-error" />
      </div>
      <label>
        <span>Access token {needsToken ? "(required: this dataset is gated)" : "(gated datasets only)"}</span>
        <input
          type="password"
          autoComplete="off"
          value={token}
          onChange={(e) => setToken(e.target.value)}
        />
      </label>
      <Button type="submit" variant="primary"
        disabled={create.isPending || recordLimit.error !== null}>
        {create.isPending ? "Checking the Hub…" : "Add from the Hub"}
      </Button>
      {create.error && <ErrorMessage error={create.error} title="Not added:" />}
    </form>
  );
}
