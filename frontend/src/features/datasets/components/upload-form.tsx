/**
 * "Upload files": pick one or more .txt/.jsonl/.json/.csv/.parquet files, choose how .txt is split
 * and what to do with bytes that are not UTF-8, and the longest line or record the import takes
 * (the limit a "longer than N bytes" refusal names), and watch a real upload progress bar (bytes
 * sent, from XMLHttpRequest). Not responsible for the import job that follows.
 */
import { type FormEvent, useState } from "react";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { ProgressBar } from "@/components/ui/progress-bar";
import { formatBytes } from "@/lib/format";
import { type UploadProgress, useUploadDataset } from "../api/upload-dataset";
import type { Dataset } from "../types";
import { RecordLimitField, useRecordLimit } from "./record-limit-field";

const ACCEPT = ".txt,.text,.md,.jsonl,.ndjson,.json,.csv,.parquet";
export function UploadForm({ onCreated }: { onCreated: (dataset: Dataset) => void }) {
  const [files, setFiles] = useState<File[]>([]);
  const [name, setName] = useState("");
  const [textColumn, setTextColumn] = useState("");
  const [txtMode, setTxtMode] = useState<"line" | "file">("line");
  const [decode, setDecode] = useState<"strict" | "replace">("strict");
  const recordLimit = useRecordLimit();
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const upload = useUploadDataset(setProgress);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setProgress({ loaded: 0, total: files.reduce((sum, f) => sum + f.size, 0) });
    upload.mutate(
      { files, name: name || undefined, textColumn: textColumn || undefined, txtMode, decode,
        maxRecordBytes: recordLimit.bytes ?? undefined },
      { onSuccess: onCreated },
    );
  };

  return (
    <form className="form-grid" onSubmit={submit} aria-label="Upload files">
      <label>
        <span>Files</span>
        <input
          type="file"
          multiple
          accept={ACCEPT}
          onChange={(e) => setFiles(Array.from(e.target.files ?? []))}
        />
      </label>
      <label>
        <span>Name (empty: first file's name)</span>
        <input value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        <span>Text column (empty: detected)</span>
        <input value={textColumn} onChange={(e) => setTextColumn(e.target.value)} />
      </label>
      <div className="form-row">
        <label>
          <span>.txt files</span>
          <select value={txtMode} onChange={(e) => setTxtMode(e.target.value as "line" | "file")}>
            <option value="line">one document per line</option>
            <option value="file">whole file = one document</option>
          </select>
        </label>
        <label>
          <span>Bytes that are not UTF-8</span>
          <select value={decode} onChange={(e) => setDecode(e.target.value as "strict" | "replace")}>
            <option value="strict">refuse (report where)</option>
            <option value="replace">replace with U+FFFD</option>
          </select>
        </label>
        <RecordLimitField limit={recordLimit} id="upload-record-limit-error" />
      </div>
      <Button type="submit" variant="primary"
        disabled={upload.isPending || files.length === 0 || recordLimit.error !== null}>
        {upload.isPending ? "Uploading…" : "Upload"}
      </Button>
      {progress && (upload.isPending || upload.isSuccess) && (
        <div className="upload-progress">
          <ProgressBar
            label="Upload progress"
            value={progress.total > 0 ? progress.loaded / progress.total : null}
            tone={upload.isSuccess ? "success" : "active"}
          />
          <span className="num">
            {formatBytes(progress.loaded)} of {formatBytes(progress.total)}
            {/* the import's state is on the dataset's card: "importing" here outlived a failed
                or finished import (this form does not follow the job) */}
            {upload.isSuccess ? " — uploaded; the import's progress is on the dataset's card" : ""}
          </span>
        </div>
      )}
      {upload.error && <ErrorMessage error={upload.error} title="Upload refused:" />}
    </form>
  );
}
