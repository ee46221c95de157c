/**
 * "Export for SAELens" on a complete extraction's results page, with the optional context size
 * (tokens per dataset row): a truncate-mode store holds sequences of different lengths, which the
 * server refuses (422) until a context size is given; its message shows beside the field. The
 * server's warnings (a store of `last` / `every_k` / `exclude_bos` positions does not hold the
 * consecutive tokens SAELens takes a row for) show under the result.
 * Not responsible for the export itself (the server's `ml/export.py`).
 */
import { useState } from "react";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { formatNumber } from "@/lib/format";
import { useExportExtraction } from "../api/export-extraction";
import { parsePositiveInt } from "../lib/int-field";
import { FieldError } from "./field-error";

const PLACEHOLDER = "the sequences' length";

export function ExportBox({ id }: { id: number }) {
  const exporter = useExportExtraction(id);
  const [contextSize, setContextSize] = useState("");
  const field = parsePositiveInt(contextSize);
  return (
    <div className="extraction-export">
      <label>
        Context size{" "}
        {/* size: the placeholder (the default) whole; at 16 it read "the sequences' lengt" */}
        <input aria-label="Context size" inputMode="numeric" size={PLACEHOLDER.length + 2}
          value={contextSize} placeholder={PLACEHOLDER}
          title="Tokens per dataset row. Default: the common length of the stored sequences (a truncate-mode store, whose sequences differ, needs one)."
          aria-invalid={field.error ? true : undefined}
          aria-describedby={field.error ? "context-size-error" : undefined}
          onChange={(e) => setContextSize(e.target.value)} />
      </label>
      <Button disabled={exporter.isPending || field.error !== null}
        onClick={() => exporter.mutate(field.value === null ? {} : { context_size: field.value })}>
        {exporter.isPending ? "Exporting…" : "Export for SAELens"}
      </Button>
      <FieldError id="context-size-error" label="Context size" error={field.error} />
      {exporter.data && (
        <span className="muted" data-testid="export-result">
          wrote <code>{exporter.data.abs_path}</code>: {formatNumber(exporter.data.rows)} rows of{" "}
          {formatNumber(exporter.data.context_size)} tokens (load with datasets.load_from_disk)
          {exporter.data.replaced && "; it replaced the earlier export there"}
        </span>
      )}
      {exporter.data?.warnings?.map((warning) => (
        <p key={warning} className="export-warning" role="status" data-testid="export-warning">
          Warning: {warning}
        </p>
      ))}
      {exporter.error && <ErrorMessage error={exporter.error} title="Export:" />}
    </div>
  );
}
