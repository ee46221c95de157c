/**
 * The results page of one extraction (`/extractions/:extractionId`): facts, live progress while
 * it runs, then the per-layer norm curve, a norm histogram per hook point, the top-token table
 * and the SAELens export. The three figures are of one row group, chosen above them: by default
 * the rows past the first position, because the first position's attention-sink norms (100x the
 * others in SmolLM2's middle layers) would take every top-token row, squeeze the histogram into
 * one bin and lift the mean curve (a store with no such row opens on all rows). A run that
 * stopped short (cancelled, failed, interrupted) shows the figures of the whole shards it kept,
 * marked as a partial store; its top tokens and export wait for the run to complete. One that
 * stopped before it had a store (the row's `store_abs_path` is null: failed in its check, say)
 * or before its first whole shard (`store_empty`) does not ask for statistics at all: the server
 * answers 409, which the browser logged; the second says nothing is stored and how to resume.
 * Not responsible for computing statistics (the server's stats.json).
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { Badge } from "@/components/ui/badge";
import { ErrorMessage } from "@/components/ui/error-message";
import { PathText } from "@/components/ui/path-text";
import type { Job } from "@/api/types";
import { ApiError } from "@/lib/api-client";
import { formatCount, formatNumber, formatPrecision } from "@/lib/format";
import { parseRowId } from "@/lib/row-id";
import { extractionKeys } from "../api/extraction-keys";
import { useExtraction } from "../api/get-extraction";
import { useExtractionSamples } from "../api/get-extraction-samples";
import { useExtractionStats } from "../api/get-extraction-stats";
import { displayStatus, statusTone } from "../lib/extraction-status";
import { positionsText } from "../lib/positions";
import {
  type Extraction,
  type ExtractionSample,
  type ExtractionStats,
  HOOK_KINDS,
  ROW_GROUPS,
  type RowGroup,
} from "../types";
import { Histogram, LineChart } from "./charts";
import { ExportBox } from "./export-box";
import { ExtractionActions } from "./extraction-actions";
import { ExtractionProgress, useExtractionJob } from "./extraction-progress";
import { OpenFromPython } from "./open-from-python";
import { RunCounts } from "./run-counts";
import { TopTokensTable } from "./top-tokens-table";
import "./extractions.css";

type NormSummary = { mean: number; histogram?: { edges: number[]; counts: number[] } };

export function ExtractionResultsPage() {
  const param = useParams().extractionId ?? "";
  const id = parseRowId(param);
  const extraction = useExtraction(id ?? 0, id !== null);
  if (id === null) {  // e.g. /extractions/new: not an id, so no request (it was a raw 422)
    return (
      <section className="page">
        <h1>No such extraction</h1>
        <p>
          &quot;{param}&quot; is not an extraction id. New extractions start from the form on{" "}
          <Link to="/extractions">Extractions</Link>.
        </p>
      </section>
    );
  }
  if (extraction.error) return <ErrorMessage error={extraction.error} title="Could not load:" />;
  if (!extraction.data) return <p className="muted">Loading extraction…</p>;
  return <ExtractionResults extraction={extraction.data} />;
}

export function ExtractionResults({ extraction }: { extraction: Extraction }) {
  const job = useExtractionJob(extraction);
  const navigate = useNavigate();
  const status = displayStatus(extraction.status, job?.state);
  const done = extraction.status === "complete";
  // a run that stopped short keeps a valid partial store (its whole shards, with their
  // statistics): its figures are shown as that, where the page showed nothing but one line
  const stopped = !done && !!job && STOPPED_JOB_STATES.has(job.state);
  // a stopped run's row says whether it has a store, and one with rows (refetched when its job
  // ends): a run stopped before its first whole shard has no statistics to ask for
  const nothingStored = stopped && extraction.store_abs_path !== null && extraction.store_empty;
  const readable = done || (stopped && extraction.store_abs_path !== null && !nothingStored);
  const [group, pickGroup] = useState<RowGroup>("non_bos");
  const picked = useRef(false);  // the user chose a group: it is never changed for them
  const setGroup = (next: RowGroup) => { picked.current = true; pickGroup(next); };
  const stats = useExtractionStats(extraction.id, group, readable,
    stopped && job ? stoppedRunKey(job) : null);
  useForgetResultsWhileNotComplete(extraction.id, done);
  // a disabled query keeps its cached data: a complete run's figures must not stand for a retry
  // that is running or failed (its files are gone)
  const statsData = readable ? stats.data : undefined;
  // a store with no row past the first position (one token per sequence: max_tokens 1, or
  // positions "last" of one-token texts) showed "0 rows", "No data to plot" and nothing else
  // by default: it opens on all rows instead
  useEffect(() => {
    if (picked.current || group !== "non_bos" || !statsData) return;
    if (groupRows(statsData, "non_bos") === 0 && (groupRows(statsData, "all") ?? 0) > 0) {
      pickGroup("all");
    }
  }, [statsData, group]);
  // a stopped store without statistics (interrupted before it wrote them): the server says why
  const noStatsYet = stats.error instanceof ApiError && stats.error.code === "extraction_results_not_ready";
  const counts = (extraction.counts ?? {}) as Record<string, number | null | undefined>;
  return (
    <section className="page extraction-results">
      <header className="page__header">
        <h1>
          <Link to="/extractions">Extractions</Link> / #{extraction.id} {extraction.name}
        </h1>
        <Badge tone={statusTone(status)}>{status}</Badge>
      </header>
      <dl className="extraction-row__facts">
        {/* the counts of a finished run; while it runs, the progress below says them live (a
            "written —" here sat beside the job's "0.000 GB written") */}
        <RunCounts extraction={extraction} />
        <dt>hook points</dt>
        <dd>{formatNumber(hookPointCount(extraction))}</dd>
        <dt>positions</dt>
        {/* the page said neither this nor the storage dtype: an every-5th bfloat16 store read
            like any other */}
        <dd data-testid="extraction-positions">
          {positionsText(String(extraction.spec.positions ?? "all"), Number(extraction.spec.every_k ?? 1))}
        </dd>
        <dt>stored as</dt>
        <dd>{String(extraction.spec.dtype ?? "float16")}</dd>
        <dt>precision</dt>
        <dd data-testid="extraction-precision">
          {extraction.precision_used
            ? formatPrecision(extraction.precision_used, extraction.precision_requested)
            : `asked ${extraction.precision_requested ?? "model's"}; known once the model is loaded`}
        </dd>
        <dt>config hash</dt>
        <dd><code>{extraction.config_hash.slice(0, 12)}</code></dd>
        <dt>store</dt>
        <dd><PathText path={extraction.store_abs_path ?? `${extraction.path}/store`} /></dd>
      </dl>
      <ExtractionProgress extraction={extraction} />
      {extraction.error_message && <ErrorMessage error={extraction.error_message} />}
      <ExtractionActions id={extraction.id} jobState={job?.state ?? null}
        onDeleted={() => navigate("/extractions")} />
      {nothingStored && job && <NothingStoredNote jobId={job.id} />}
      {readable && stats.error && !(stopped && noStatsYet) && (
        <ErrorMessage error={stats.error} title="Statistics:" />
      )}
      {readable && stopped && noStatsYet && (
        <p className="muted" data-testid="no-statistics">{stats.error?.message}</p>
      )}
      {statsData && statsData.status !== "complete" && (
        <PartialNote stats={statsData} planned={counts.rows_total ?? null}
          exportable={PARTIAL_EXPORT.has(extraction.status)} />
      )}
      {statsData && <RowGroupPicker stats={statsData} group={group} onChange={setGroup} />}
      {statsData && <StatsCharts stats={statsData} group={group} />}
      {done && (
        <TopTokensSection id={extraction.id} group={group}
          names={hookPoints(extraction, statsData)} />
      )}
      {(done || statsData) && (
        <OpenFromPython extraction={extraction} hook={firstHookPoint(extraction, statsData)} />
      )}
      {/* a stopped run's whole shards export too (the answer says it holds part of the run) */}
      {(done || (stopped && statsData && PARTIAL_EXPORT.has(extraction.status))) && (
        <ExportBox id={extraction.id} stats={statsData}
          hookPoint={firstHookPoint(extraction, statsData)}
          points={hookPoints(extraction, statsData)} modelId={extraction.model_id}
          positions={{ mode: String(extraction.spec.positions ?? "all"),
            k: Number(extraction.spec.every_k ?? 1) }} />
      )}
    </section>
  );
}

const STOPPED_JOB_STATES = new Set(["cancelled", "failed", "interrupted"]);
/** The stopped statuses whose store the server exports (`PARTIAL_STATUSES`); a failed run not. */
const PARTIAL_EXPORT: ReadonlySet<string> = new Set(["cancelled", "interrupted"]);

/** One stop of one run: its partial statistics' cache key. */
export function stoppedRunKey(job: Pick<Job, "id" | "attempt" | "finished_at" | "updated_at">): string {
  return `${job.id}:${job.attempt}:${job.finished_at ?? job.updated_at}`;
}

/** The rows of `group` (the same in every hook point's statistics). */
function groupRows(stats: ExtractionStats, group: RowGroup): number | undefined {
  const first = Object.values(stats.hooks)[0] as
    | { groups?: Record<string, { rows?: number }> }
    | undefined;
  return first?.groups?.[group]?.rows;
}

/** A stopped run's store: what its figures are of (the whole shards it kept), and what it lacks.
 * `exportable`: the server exports these rows (a cancelled or interrupted run; the export box is
 * below), where "the export comes when it completes" sat above an offered export. */
function PartialNote({ stats, planned, exportable }: {
  stats: ExtractionStats;
  planned: number | null;
  exportable: boolean;
}) {
  return (
    <p className="muted" data-testid="partial-results">
      <Badge tone="warning">partial store</Badge> The figures below are of the{" "}
      {formatNumber(stats.rows)} rows in {formatCount(stats.shards, "whole shard")} the run kept
      {planned !== null ? ` (of ${formatNumber(planned)} planned)` : ""}.{" "}
      {exportable
        ? "The highest-norm tokens come when it completes (an export now holds only these rows): "
        : "The highest-norm tokens and the export come when it completes: "}
      Resume continues after its last whole shard.
    </p>
  );
}

/** A run stopped before its first whole shard: its store holds nothing to show or export. */
function NothingStoredNote({ jobId }: { jobId: number }) {
  return (
    <p className="muted" data-testid="nothing-stored">
      <Badge tone="warning">nothing stored yet</Badge> The run stopped before its first whole
      shard was written, so there are no figures, highest-norm tokens or export. Resume (above)
      starts it from the beginning; from a terminal,{" "}
      <code>interpstudio jobs resume {jobId}</code>.
    </p>
  );
}

/** While the extraction is not complete (a retry re-running, or failed), its cached statistics and
 * samples are of a run whose files are gone: they are dropped, so the next complete run's are
 * fetched anew instead of the old ones showing until the refetch answers. (A stopped run's
 * partial statistics live under their own keys, which this leaves alone.) */
function useForgetResultsWhileNotComplete(id: number, done: boolean) {
  const queryClient = useQueryClient();
  useEffect(() => {
    if (done) return;
    for (const group of ROW_GROUPS) {
      queryClient.removeQueries({ queryKey: extractionKeys.stats(id, group.value), exact: true });
      queryClient.removeQueries({ queryKey: extractionKeys.samples(id, group.value) });  // every point's
    }
  }, [queryClient, id, done]);
}

/** Hook points in the order the forward reaches them: by layer, then resid_pre, attn_out,
 * mlp_act, mlp_out, resid_post (by name, layer 29's "deepest" was resid_pre, its input). */
export function forwardOrder(a: string, b: string): number {
  const [, layerA = "0", kindA = ""] = a.split(".");
  const [, layerB = "0", kindB = ""] = b.split(".");
  const rank = (kind: string) => {
    const index = (HOOK_KINDS as readonly string[]).indexOf(kind);
    return index < 0 ? HOOK_KINDS.length : index;
  };
  return Number(layerA) - Number(layerB) || rank(kindA) - rank(kindB) || a.localeCompare(b);
}

function hookPointCount(extraction: Extraction): number | null {
  const expanded = (extraction.spec as { hook_points_expanded?: unknown }).hook_points_expanded;
  return Array.isArray(expanded) ? expanded.length : null;
}

/** The points the extraction asked for (as the store names them), else the statistics'. */
function hookPoints(extraction: Extraction, stats: ExtractionStats | undefined): string[] {
  const expanded = (extraction.spec as { hook_points_expanded?: unknown }).hook_points_expanded;
  if (Array.isArray(expanded) && expanded.length > 0) return expanded.map(String);
  return Object.keys(stats?.hooks ?? {});
}

/** The first point the extraction asked for (as the store names it), else the statistics' first. */
function firstHookPoint(extraction: Extraction, stats: ExtractionStats | undefined): string {
  return hookPoints(extraction, stats)[0] ?? "";
}

function RowGroupPicker({ stats, group, onChange }: {
  stats: ExtractionStats;
  group: RowGroup;
  onChange: (group: RowGroup) => void;
}) {
  const rows = groupRows(stats, group);
  return (
    <p className="muted">
      <label>
        Rows{" "}
        <select aria-label="Row group" value={group}
          onChange={(e) => onChange(e.target.value as RowGroup)}>
          {/* a group the store holds no row of (the first positions of a run with positions
              exclude_bos, last or every_k) was offered, and picking it showed "0 rows" and
              three empty figures: it is named as empty and cannot be picked */}
          {ROW_GROUPS.map((g) => {
            const none = g.value !== group && groupRows(stats, g.value) === 0;
            return (
              <option key={g.value} value={g.value} disabled={none}>
                {none ? `${g.label}: none stored` : g.label}
              </option>
            );
          })}
        </select>
      </label>{" "}
      <span data-testid="row-group-rows">{formatCount(rows ?? null, "row")}</span> per hook point
    </p>
  );
}

function StatsCharts({ stats, group }: { stats: ExtractionStats; group: RowGroup }) {
  const hooks = Object.keys(stats.hooks).sort(forwardOrder);
  const [hook, setHook] = useState(hooks[0] ?? "");
  const series = Object.entries(stats.layer_norms).map(([kind, points]) => ({
    name: kind,
    points: points.map((p) => ({ x: p.layer, y: p.norm_mean })),
  }));
  const groups = (stats.hooks[hook]?.groups ?? {}) as Record<string, { norm?: NormSummary }>;
  const histogram = groups[group]?.norm?.histogram;
  return (
    <div className="extraction-charts">
      <LineChart series={series} title="Mean L2 norm per layer" xLabel="layer" />
      <div>
        <label className="muted">
          Hook point{" "}
          <select aria-label="Histogram hook point" value={hook}
            onChange={(e) => setHook(e.target.value)}>
            {hooks.map((h) => <option key={h} value={h}>{h}</option>)}
          </select>
        </label>
        {histogram ? (
          <Histogram edges={histogram.edges} counts={histogram.counts}
            title={`Norm histogram: ${hook}`} />
        ) : (
          <p className="muted">No histogram.</p>
        )}
      </div>
    </div>
  );
}

/** The highest-norm tokens of one hook point, asked of the server for that point alone (the
 * page fetched every point's, ~1,400 rows for 90 points, to show 16). */
function TopTokensSection({ id, group, names }: { id: number; group: RowGroup; names: string[] }) {
  const sorted = [...names].sort(forwardOrder);
  const [hook, setHook] = useState(sorted[sorted.length - 1] ?? "");  // the deepest point
  const samples = useExtractionSamples(id, group, hook, hook !== "");
  if (!hook) return null;
  let body;
  if (samples.error) {
    body = <ErrorMessage error={samples.error} title="Highest-norm tokens:" />;
  } else if (!samples.data) {
    body = <p className="muted">Loading highest-norm tokens…</p>;
  } else {
    // the rows of the point asked for; while the next point's load, the last one's stay
    const rows: ExtractionSample[] | undefined = samples.isPlaceholderData
      ? Object.values(samples.data.hooks)[0] : samples.data.hooks[hook];
    body = rows === undefined  // samples written before they were kept per row group
      ? <p className="muted">No highest-norm tokens recorded for these rows.</p>
      : <TopTokensTable samples={rows} />;
  }
  return (
    <div>
      <h2>
        Highest-norm tokens{" "}
        <select aria-label="Top tokens hook point" value={hook}
          onChange={(e) => setHook(e.target.value)}>
          {sorted.map((h) => <option key={h} value={h}>{h}</option>)}
        </select>
      </h2>
      {body}
    </div>
  );
}
