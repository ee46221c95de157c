/**
 * "Longest line or record (MiB)": the limit an import refuses a longer line (or JSON/CSV record,
 * parquet value) over, the `max_record_bytes` a "longer than N bytes" refusal names, typed in MiB
 * and checked against the server's bounds before sending. Used by the upload and Hub forms. Not
 * responsible for the request.
 */
import { useState } from "react";
import { FieldError } from "@/components/ui/field-error";
import { DEFAULT_READ_OPTIONS } from "../types";

const MIB = 1024 * 1024;
// the server's bounds (services/dataset_params.ReadOptionsSpec.max_record_bytes)
const MIN_RECORD_BYTES = 1024;
const MAX_RECORD_BYTES = 2 ** 31;

/** The record limit typed in MiB, as bytes; or why it cannot be used. */
export function readRecordLimit(text: string): { bytes: number | null; error: string | null } {
  const mib = Number(text.trim());
  const bytes = Math.round(mib * MIB);
  if (text.trim() === "" || !Number.isFinite(mib) || bytes < MIN_RECORD_BYTES
    || bytes > MAX_RECORD_BYTES) {
    return { bytes: null, error: "must be a number of MiB from 0.001 to 2048" };
  }
  return { bytes, error: null };
}

export function useRecordLimit() {
  const [text, setText] = useState(String(DEFAULT_READ_OPTIONS.max_record_bytes / MIB));
  return { text, setText, ...readRecordLimit(text) };
}

export function RecordLimitField({ limit, id }: {
  limit: ReturnType<typeof useRecordLimit>; id: string;
}) {
  return (
    <label>
      <span>Longest line or record (MiB)</span>
      <input
        inputMode="decimal"
        value={limit.text}
        title="A longer line (or JSON/CSV record, parquet value) is refused, naming it"
        aria-invalid={limit.error ? true : undefined}
        aria-describedby={limit.error ? id : undefined}
        onChange={(e) => limit.setText(e.target.value)}
      />
      <FieldError id={id} label="Longest line or record" error={limit.error} />
    </label>
  );
}
