/**
 * "Export for SAELens" on a complete extraction's results page, with the optional context size
 * (tokens per dataset row): a truncate-mode store holds sequences of different lengths, which the
 * server refuses (422) until a context size is given; its message shows beside the field. The
 * server's warnings (a store of `last` / `every_k` / `exclude_bos` positions does not hold the
 * consecutive tokens SAELens takes a row for) show under the result. Where the store's statistics
 * show the first-position rows (BOS / attention sinks, kept apart in `stats.json`) with a mean norm
 * far above the rest's at a point the export takes, a hint says so before the export: those rows
 * would dominate an SAE's MSE, and "Leave out first positions" (`exclude_first_position`) exports
 * without the rows at position 0.
 * A choice names the columns by hook point (its example one of the store's own, `hookPoint`: it
 * said "blocks.3.resid_post" for every store) or by module path (what SAELens hooks with
 * `model_class_name="AutoModelForCausalLM"`; its example the module of one of the store's points
 * that has one, from the model's architecture: a fixed "model.layers.3" named a layer a 2-layer
 * model lacks, and none where no stored point has one); a module-path export lists its columns'
 * points.
 * "Leave out first positions" is off, with why, where the store holds no row at position 0
 * (`every_k` with k > 1 never keeps it; else the statistics' first-position group is empty, as
 * under `exclude_bos` or `last` of longer sequences): ticking it changed nothing.
 * A module-path export refused for points no module outputs (`no_module_path`: resid_pre,
 * mlp_act) offers to export only the stored points that have one (the server's `nameable`): the
 * refusal said "export only those", and this box has no other way to pick points.
 * The result says what the export left out: first positions, and a packed export's last tokens
 * that did not fill a row (`tokens_dropped`). The export's rows are sequences of context-size
 * tokens, and it says "sequences" for them ("15 sequences of 128 tokens, one dataset row each",
 * "Exporting: 40 / 100 sequences"): "15 rows", beside a store of 4,096 rows per hook point, read
 * as activation rows.
 * The export runs as a job (`POST /extractions/{id}/export-job`; minutes for a large store): the
 * box follows it live (sequences written of the total, then "assembling the dataset", an indeterminate
 * bar: one step that cannot be stopped, so Cancel is off then), with a Cancel that stops it
 * between blocks and keeps the previous export; the job's result is shown as the export's answer.
 * An export of this extraction already queued or running when the page opens is followed at
 * once (`get-export-underway.ts`). Refusals known up front (unknown points, no module path,
 * values past float16's range, disk) come back from the start itself; one saying an export of
 * the extraction is already under way (started since the page opened) names its job, followed.
 * A stopped extraction's export holds its whole shards only: the answer's first warning says so.
 * Not responsible for the export itself (the server's `ml/export.py`).
 */
import { useState } from "react";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { FieldError } from "@/components/ui/field-error";
import { ProgressBar } from "@/components/ui/progress-bar";
import { ApiError } from "@/lib/api-client";
import { formatCount, formatDoneOfTotal, formatNumber } from "@/lib/format";
import { FINISHED_JOB_STATES, useLiveJob } from "@/lib/live-job";
import { useCancelExport, useStartExport } from "../api/export-extraction";
import { useExportUnderway } from "../api/get-export-underway";
import { useOutputModules } from "../api/get-picker-options";
import { parsePositiveInt } from "../lib/int-field";
import type { ExportCreate, ExportResult, ExtractionStats } from "../types";

const PLACEHOLDER = "the sequences' length";
/** What the export job counts (its unit "sequences"): the dataset's rows, each a sequence of
 * context-size tokens, not the store's activation rows (one per token and hook point); "40 / 100
 * rows" beside an extraction of 4,096 rows read as activation rows. */
const EXPORT_UNIT = "sequences";
/** First-position rows this many times the rest's mean norm get the hint. */
export const FIRST_POSITION_HINT_RATIO = 5;

type ColumnNames = ExportCreate["column_names"];

type GroupNorms = Record<string, { rows?: number; norm?: { mean?: number } } | undefined>;

/** The hook point whose first-position (`bos` group) rows' mean norm is the largest multiple of
 * the other rows' (`non_bos`), when that multiple is at least `FIRST_POSITION_HINT_RATIO`;
 * among `points` only when given (the points an export takes: a point it leaves out was named). */
export function firstPositionDominance(
  stats: ExtractionStats | undefined,
  points?: readonly string[] | null,
): { hook: string; ratio: number } | null {
  let worst: { hook: string; ratio: number } | null = null;
  for (const [hook, summary] of Object.entries(stats?.hooks ?? {})) {
    if (points && !points.includes(hook)) continue;
    const groups = ((summary as { groups?: GroupNorms }).groups ?? {});
    const first = groups.bos;
    const rest = groups.non_bos;
    const firstMean = first?.norm?.mean;
    const restMean = rest?.norm?.mean;
    if (!first?.rows || !rest?.rows || typeof firstMean !== "number"
      || typeof restMean !== "number" || !(restMean > 0)) continue;
    const ratio = firstMean / restMean;
    if (Number.isFinite(ratio) && ratio >= FIRST_POSITION_HINT_RATIO && ratio > (worst?.ratio ?? 0)) {
      worst = { hook, ratio };
    }
  }
  return worst;
}

/** Why the store holds no row at position 0, or null where it may hold some: `every_k` with
 * k > 1 keeps positions k-1, 2k-1, ...; otherwise an empty first-position (`bos`) group, which
 * holds every position-0 row, says so (`exclude_bos`, or `last` of sequences past one token). */
export function noFirstPositionRows(
  positions: { mode: string; k: number } | undefined,
  stats: ExtractionStats | undefined,
): string | null {
  if (positions?.mode === "every_k" && positions.k > 1) {
    return `this store holds no row at position 0 (positions every_k, k=${positions.k}, keeps ` +
      `positions ${positions.k - 1}, ${2 * positions.k - 1}, …): there is nothing to leave out`;
  }
  const first = Object.values(stats?.hooks ?? {})[0] as
    { groups?: GroupNorms } | undefined;
  if (first?.groups?.bos?.rows === 0) {
    return `this store holds no row at position 0 (positions ${positions?.mode ?? "all"}): ` +
      "there is nothing to leave out";
  }
  return null;
}

/** The stored points a `no_module_path` refusal says can be named by module path. */
function nameablePoints(error: unknown): string[] {
  if (!(error instanceof ApiError) || error.code !== "no_module_path") return [];
  const nameable = error.details.nameable;
  return Array.isArray(nameable) ? nameable.filter((p): p is string => typeof p === "string") : [];
}

/** The job a refusal `export_underway` names: the export of this extraction that is running. */
function underwayJob(error: unknown): number | null {
  if (!(error instanceof ApiError) || error.code !== "export_underway") return null;
  const id = error.details.job_id;
  return typeof id === "number" ? id : null;
}

/** `hookPoint`: one of the store's points, the example the column-name choice shows; `points`:
 * the store's points (in the forward's order), of which the module-path example is one with a
 * module (`hookPoint` where it has one); `modelId`: the model whose modules those are;
 * `positions`: the run's positions policy. */
export function ExportBox({ id, stats, hookPoint, points: stored = [], modelId = null, positions }: {
  id: number;
  stats?: ExtractionStats;
  hookPoint?: string;
  points?: readonly string[];
  modelId?: number | null;
  positions?: { mode: string; k: number };
}) {
  const exporter = useStartExport(id);
  const canceller = useCancelExport();
  const started = exporter.data;
  // an export of this extraction already under way when the page opened (started from another
  // page, tab or the CLI's --enqueue): followed at once, with its progress and Cancel
  const attached = useExportUnderway(id).data ?? null;
  // one started since (in another tab): the refusal names its job, which the box then follows
  const underway = underwayJob(exporter.error);
  const jobId = started?.id ?? underway ?? attached?.id ?? null;
  const job = useLiveJob(jobId, started ?? (attached?.id === jobId ? attached : null)).data;
  const running = job !== undefined && !FINISHED_JOB_STATES.has(job.state);
  const assembling = job?.stage === "assemble";
  const busy = exporter.isPending || running;
  const result = job?.state === "succeeded" ? (job.result as ExportResult | null) : null;
  const [contextSize, setContextSize] = useState("");
  const [columnNames, setColumnNames] = useState<ColumnNames>("hook_points");
  const [excludeFirstTicked, setExcludeFirst] = useState(false);
  const noFirstRows = noFirstPositionRows(positions, stats);
  const excludeFirst = excludeFirstTicked && noFirstRows === null;
  const modules = useOutputModules(modelId).data;
  const examplePoint = [hookPoint ?? "", ...stored].find((p) => modules?.has(p));
  const moduleExample = examplePoint === undefined ? undefined : modules?.get(examplePoint);
  // the points the last export asked for (null: every stored point), which the hint is about
  const [points, setPoints] = useState<string[] | null>(null);
  const field = parsePositiveInt(contextSize);
  const dominance = firstPositionDominance(stats, points);
  const nameable = nameablePoints(exporter.error);
  const exportWith = (hookPoints?: string[]) => {
    setPoints(hookPoints ?? null);
    exporter.mutate({ column_names: columnNames, exclude_first_position: excludeFirst,
      ...(hookPoints ? { hook_points: hookPoints } : {}),
      ...(field.value === null ? {} : { context_size: field.value }) });
  };
  return (
    <div className="extraction-export">
      {dominance && (
        <p className={excludeFirst ? "muted" : "export-warning"} role="note"
          data-testid="export-first-position-hint">
          The first-position rows (BOS / attention sinks) have a mean norm{" "}
          {formatNumber(Math.round(dominance.ratio))}× the other rows' at{" "}
          <code>{dominance.hook}</code>
          {excludeFirst
            ? <>: this export leaves out the rows at position 0 (a BOS token further into a
              sequence stays).</>
            : <>: an SAE trained on this export would spend its MSE on them. Tick{" "}
              <strong>Leave out first positions</strong> to export without the rows at
              position 0.</>}
        </p>
      )}
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
      <label>
        Column names{" "}
        <select aria-label="Column names" value={columnNames}
          onChange={(e) => setColumnNames(e.target.value as ColumnNames)}>
          <option value="hook_points">hook points{hookPoint ? ` (${hookPoint})` : ""}</option>
          <option value="module_paths">module paths{moduleExample ? ` (${moduleExample})` : ""}</option>
        </select>
      </label>
      <label title={noFirstRows ? `Off: ${noFirstRows}.` : "Leave out every row at position 0 (each sequence's first token: BOS / attention sinks), from every column and token_ids alike. The default context size is then the sequences' length less one."}>
        <input type="checkbox" checked={excludeFirst} disabled={noFirstRows !== null}
          aria-describedby={noFirstRows ? "no-first-rows" : undefined}
          onChange={(e) => setExcludeFirst(e.target.checked)} />{" "}
        Leave out first positions
      </label>
      <Button disabled={busy || field.error !== null}
        onClick={() => exportWith()}>
        {busy ? "Exporting…" : "Export for SAELens"}
      </Button>
      {noFirstRows && (
        <p className="muted" id="no-first-rows" data-testid="export-no-first-rows">
          Leave out first positions is off: {noFirstRows}.
        </p>
      )}
      <FieldError id="context-size-error" label="Context size" error={field.error} />
      <p className="muted" data-testid="column-names-hint">
        Module paths are for SAELens with <code>model_class_name="AutoModelForCausalLM"</code> and
        no <code>override_model</code>; only resid_post, attn_out and mlp_out points have one.
      </p>
      {job && running && (
        <div className="extraction-export__progress" data-testid="export-progress">
          <ProgressBar label="Export progress"
            value={job.done !== null && job.total ? job.done / job.total : null} />
          <span className="muted num" data-testid="export-progress-text">
            {assembling && job.cancel_requested
              ? "Assembling the dataset: a cancel cannot stop this last step, so the export will finish…"
              : job.cancel_requested ? "Cancelling…"
              : job.state === "queued" ? "Waiting for a job worker…"
              : assembling ? "Assembling the dataset (this last step cannot be stopped)…"
              : `Exporting: ${formatDoneOfTotal(job.done, job.total, EXPORT_UNIT) || "reading the store"}`}
          </span>{" "}
          <Button disabled={job.cancel_requested || canceller.isPending || assembling}
            title={assembling ? "Assembling the dataset cannot be stopped" : undefined}
            onClick={() => canceller.mutate(job.id)}>
            Cancel
          </Button>
        </div>
      )}
      {job && running && !started && underway === null && (
        <p className="muted" role="status" data-testid="export-attached">
          An export of this extraction is under way (job {job.id}): following it.
        </p>
      )}
      {job?.state === "cancelled" && (
        <p className="muted" role="status" data-testid="export-cancelled">
          Export cancelled: nothing was written; an earlier export, if any, is as it was.
        </p>
      )}
      {job && (job.state === "failed" || job.state === "interrupted") && (
        <ErrorMessage title="Export:"
          error={job.error_message ?? `the export job ${job.id} is ${job.state}`} />
      )}
      {canceller.error && <ErrorMessage error={canceller.error} title="Cancel:" />}
      {result && (
        <span className="muted" data-testid="export-result">
          wrote <code>{result.abs_path}</code>: {formatCount(result.rows, "sequence")} of{" "}
          {formatNumber(result.context_size)} tokens, one dataset row each (load with
          datasets.load_from_disk)
          {result.exclude_first_position
            && `; ${formatCount(result.first_positions_excluded ?? 0, "first-position token")} left out`}
          {result.tokens_dropped > 0
            && `; the last ${formatCount(result.tokens_dropped, "token")} did not fill a sequence and ${
              result.tokens_dropped === 1 ? "was" : "were"} left out`}
          {result.replaced && "; it replaced the earlier export there"}
        </span>
      )}
      {result?.column_names === "module_paths" && (
        <p className="muted" data-testid="export-columns">
          Columns by module path:{" "}
          {Object.entries(result.columns ?? {}).map(([column, point], i) => (
            <span key={column}>{i > 0 && ", "}<code>{column}</code> = {point}</span>
          ))}
        </p>
      )}
      {result?.warnings?.map((warning) => (
        <p key={warning} className="export-warning" role="status" data-testid="export-warning">
          Warning: {warning}
        </p>
      ))}
      {underway !== null && (
        <p className="muted" role="status" data-testid="export-underway">
          An export of this extraction was already under way (job {underway}): following it.
        </p>
      )}
      {exporter.error && underway === null && <ErrorMessage error={exporter.error} title="Export:" />}
      {nameable.length > 0 && columnNames === "module_paths" && (
        <p data-testid="export-nameable">
          <Button disabled={busy || field.error !== null}
            onClick={() => exportWith(nameable)}>
            Export only the {formatNumber(nameable.length)}{" "}
            {nameable.length === 1 ? "point" : "points"} with a module path
          </Button>
        </p>
      )}
    </div>
  );
}
