/**
 * One dataset: status and live import progress, where it came from, files with sha256, row and
 * character statistics with the length histogram, then (once ready) its rows, the tokenization
 * form and its tokenizations. Rename and delete, asked first (a 409 lists what uses it and offers
 * to delete everything, asked first too). Not responsible for the list of datasets.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { ProgressBar } from "@/components/ui/progress-bar";
import { ApiError } from "@/lib/api-client";
import { formatBytes, formatDoneOfTotal, formatNumber } from "@/lib/format";
import { FINISHED_JOB_STATES, useLiveJob } from "@/lib/live-job";
import { datasetKeys } from "../api/dataset-keys";
import { useDeleteDataset } from "../api/delete-dataset";
import { useDataset } from "../api/get-dataset";
import { useRenameDataset } from "../api/update-dataset";
import { isSettled, statusTone } from "../lib/dataset-status";
import type { Dataset, HistogramBucket } from "../types";
import { LengthHistogram } from "./length-histogram";
import { PreviewTable } from "./preview-table";
import { TokenizationForm } from "./tokenization-form";
import { TokenizationsList } from "./tokenizations-list";

type TextStats = {
  rows: number;
  characters: number;
  empty_rows: number;
  mean_chars: number | null;
  max_chars: number | null;
  length_histogram: HistogramBucket[];
  decode?: { invalid_bytes: number; invalid_sequences: number };
};

function Origin({ dataset }: { dataset: Dataset }) {
  if (dataset.source !== "hub") return <>{dataset.source}</>;
  return (
    <>
      hub <code>{dataset.repo_id}</code> @ {dataset.revision} ({dataset.commit_sha?.slice(0, 10)}),
      config {dataset.config_name}, split {dataset.split}
    </>
  );
}

function TextColumn({ dataset }: { dataset: Dataset }) {
  const info = dataset.info as { columns?: string[]; detected_text_column?: string | null };
  if (!dataset.text_column) return <>(whole lines / files)</>;
  const detected = info.detected_text_column === dataset.text_column;
  return (
    <>
      <code>{dataset.text_column}</code> {detected ? "(detected)" : "(chosen)"}
      {info.columns && info.columns.length > 1 && (
        <span className="muted"> — columns: {info.columns.join(", ")}</span>
      )}
    </>
  );
}

function ImportProgress({ dataset }: { dataset: Dataset }) {
  const queryClient = useQueryClient();
  const job = useLiveJob(dataset.job_id, dataset.job).data;
  const finished = job ? FINISHED_JOB_STATES.has(job.state) : false;
  useEffect(() => {
    if (finished && !isSettled(dataset.status)) {
      void queryClient.invalidateQueries({ queryKey: datasetKeys.detail(dataset.id) });
      void queryClient.invalidateQueries({ queryKey: datasetKeys.lists() });
    }
  }, [finished, dataset.status, dataset.id, queryClient]);
  if (!job || finished) return null;
  return (
    <div className="upload-progress">
      <ProgressBar label="Import progress" value={job.progress ?? null} />
      <span className="num">
        {job.stage ?? job.state}: {formatDoneOfTotal(job.done, job.total, job.unit)}
      </span>
    </div>
  );
}

function DeleteButton({ dataset, onDeleted }: { dataset: Dataset; onDeleted: () => void }) {
  const remove = useDeleteDataset();
  const inUse = remove.error instanceof ApiError && remove.error.code === "dataset_in_use";
  return (
    <>
      <Button
        variant="danger"
        size="sm"
        onClick={() => {
          const question = inUse
            ? `Delete dataset “${dataset.name}” with all its tokenizations and extractions, and their files?`
            : `Delete dataset “${dataset.name}” and its files?`;
          if (!window.confirm(question)) return;
          remove.mutate({ id: dataset.id, force: inUse }, { onSuccess: onDeleted });
        }}
      >
        {inUse ? "Delete with its tokenizations and extractions" : "Delete"}
      </Button>
      {remove.error && <ErrorMessage error={remove.error} title="Not deleted:" />}
    </>
  );
}

export function DatasetCard({ datasetId, onDeleted }: { datasetId: number; onDeleted: () => void }) {
  const query = useDataset(datasetId);
  const rename = useRenameDataset();
  const [name, setName] = useState<string | null>(null);
  const dataset = query.data;
  if (query.error) return <ErrorMessage error={query.error} title="Could not load the dataset:" />;
  if (!dataset) return <p className="muted">Loading…</p>;
  const stats = dataset.stats as TextStats | null;

  return (
    <article className="datasets__card" aria-label={`Dataset ${dataset.name}`}>
      <section className="panel">
        <div className="form-row">
          {name === null ? (
            <h2>{dataset.name}</h2>
          ) : (
            // focused when Rename opens it, Enter saves, Escape or Cancel leaves the name as it
            // was (the field had no focus, Enter did nothing and only Save closed it)
            <form className="form-row" aria-label="Rename dataset" onSubmit={(e) => {
              e.preventDefault();
              rename.mutate({ id: dataset.id, name }, { onSuccess: () => setName(null) });
            }}>
              <input aria-label="New name" value={name} autoFocus
                onChange={(e) => setName(e.target.value)}
                onKeyDown={(e) => { if (e.key === "Escape") { rename.reset(); setName(null); } }} />
              <Button size="sm" type="submit" disabled={rename.isPending}>
                Save
              </Button>
              <Button size="sm" variant="ghost" onClick={() => { rename.reset(); setName(null); }}>
                Cancel
              </Button>
            </form>
          )}
          <Badge tone={statusTone(dataset.status)}>{dataset.status}</Badge>
          {name === null && (
            <Button size="sm" variant="ghost" onClick={() => setName(dataset.name)}>
              Rename
            </Button>
          )}
          <DeleteButton dataset={dataset} onDeleted={onDeleted} />
        </div>
        {rename.error && <ErrorMessage error={rename.error} />}
        <ImportProgress dataset={dataset} />
        {dataset.error_message && <ErrorMessage error={dataset.error_message} title="Import failed:" />}
        <dl className="facts">
          <dt>source</dt>
          <dd>
            <Origin dataset={dataset} />
          </dd>
          <dt>text column</dt>
          <dd>
            <TextColumn dataset={dataset} />
          </dd>
          <dt>rows</dt>
          <dd className="num">{formatNumber(dataset.rows)}</dd>
          <dt>size</dt>
          <dd className="num">{formatBytes(dataset.bytes)}</dd>
          {stats && (
            <>
              <dt>characters</dt>
              <dd className="num">{formatNumber(stats.characters)}</dd>
              <dt>empty rows</dt>
              <dd className="num">{formatNumber(stats.empty_rows)}</dd>
              <dt>length (chars)</dt>
              <dd className="num">
                mean {stats.mean_chars?.toFixed(1) ?? "—"}, max {formatNumber(stats.max_chars)}
              </dd>
              {stats.decode && stats.decode.invalid_bytes > 0 && (
                <>
                  <dt>not UTF-8</dt>
                  <dd>{formatNumber(stats.decode.invalid_bytes)} bytes replaced with U+FFFD</dd>
                </>
              )}
            </>
          )}
          <dt>files</dt>
          <dd>
            {dataset.files.map((f) => (
              <div key={String(f.name)} className="path">
                {String(f.name)} · {formatBytes(Number(f.bytes))} · sha256 {String(f.sha256).slice(0, 16)}…
              </div>
            ))}
          </dd>
        </dl>
        {stats && <LengthHistogram title="Characters per row" buckets={stats.length_histogram} />}
      </section>
      {dataset.status === "ready" && (
        <>
          <PreviewTable datasetId={dataset.id} />
          <TokenizationForm datasetId={dataset.id} />
          <TokenizationsList datasetId={dataset.id} />
        </>
      )}
    </article>
  );
}
