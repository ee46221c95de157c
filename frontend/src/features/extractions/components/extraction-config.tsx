/**
 * ActivationExtractionConfig: model, dataset -> tokenization (made with that model's tokenizer,
 * or another model's whose tokenizer files are byte-identical, as the server lists them; the one
 * within the model's positions is the default, as the CLI's `--dataset` picks), the
 * layer x hook-type grid, batch, positions, storage dtype, limits; "Preflight" measures it on
 * the server, the panel shows the estimates, "Start extraction" confirms. Where the server
 * measures on a job worker (`GET /extractions/preflight`), the wait says so, and a preflight no
 * worker took in time reads as that, not as a refusal of the settings: Start does not need it.
 * Not responsible for the run's progress (the list shows it live).
 */
import { type FormEvent, useMemo, useRef, useState } from "react";
import { Link } from "react-router";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { FieldError } from "@/components/ui/field-error";
import { ApiError } from "@/lib/api-client";
import { formatEta, formatNumber } from "@/lib/format";
import { underwayExtractionId, useCreateExtraction } from "../api/create-extraction";
import {
  useDatasetOptions,
  useModelOptions,
  useTokenizationOptions,
  useUnavailableHookPoints,
} from "../api/get-picker-options";
import { usePreflightPlacement } from "../api/get-preflight-placement";
import { usePreflightExtraction } from "../api/preflight-extraction";
import { cellKey, selectionToPatterns } from "../lib/hook-grid";
import { parsePositiveInt, sameRequest } from "../lib/int-field";
import { positionsText } from "../lib/positions";
import {
  type DatasetOption,
  type Extraction,
  type ExtractionCreate,
  POSITION_MODES,
  STORAGE_DTYPES,
  type TokenizationOption,
} from "../types";
import { HookGrid } from "./hook-grid";
import { PreflightPanel } from "./preflight-panel";

const PRECISIONS = ["", "fp32", "fp16", "bf16", "q8", "q4", "q2"] as const;
/** The device the form asks for: the server's first CUDA device, else its CPU. */
const DEVICE = "auto";

export function ActivationExtractionConfig({ onCreated }: {
  onCreated?: (extraction: Extraction) => void;
}) {
  const models = useModelOptions();
  const datasets = useDatasetOptions();
  const [modelId, setModelId] = useState<number | null>(null);
  const [datasetId, setDatasetId] = useState<number | null>(null);
  const [pickedTokenizationId, setTokenizationId] = useState<number | null>(null);
  const tokenizations = useTokenizationOptions(datasetId, modelId);
  const unavailable = useUnavailableHookPoints(modelId);
  const [selection, setSelection] = useState<Set<string>>(new Set());
  const [batchSize, setBatchSize] = useState("8");
  const [positions, setPositions] = useState<string>("all");
  const [everyK, setEveryK] = useState("4");
  const [dtype, setDtype] = useState<string>("float16");
  const [precision, setPrecision] = useState<string>("");
  const [maxTokens, setMaxTokens] = useState("");
  const preflight = usePreflightExtraction();
  const placement = usePreflightPlacement(DEVICE).data;
  const onWorker = placement?.runs_on === "worker";
  const create = useCreateExtraction();
  // set before the request, synchronously: `create.isPending` reaches the button only after a
  // render, so a fast double-click used to send two identical POST /extractions
  const starting = useRef(false);

  const readyModels = (models.data?.items ?? []).filter((m) => m.status === "ready");
  // only a ready dataset can be tokenized, so a failed or importing one is not offered
  const readyDatasets = (datasets.data?.items ?? []).filter((d) => d.status === "ready");
  const model = readyModels.find((m) => m.id === modelId) ?? null;
  const nLayers = model?.n_layers ?? 0;
  // the server lists only those this model may use (its tokenizer's, or identical files')
  const usable = (tokenizations.data?.items ?? []).filter((t) => t.status === "ready");
  const madeWith = (t: TokenizationOption): string | null => t.model_id === modelId ? null
    : (models.data?.items ?? []).find((m) => m.id === t.model_id)?.name ?? `model ${t.model_id}`;
  const modelPositions = model?.positions ?? null;
  // the one tokenization of this dataset with this model's tokenizer within its positions is
  // the choice: the select said "choose" beside a single option, and Preflight stayed disabled
  // with no word why. One made past them (before such a one was refused) is offered, never
  // picked: the CLI's `--dataset` passes over it too
  const fitting = usable.filter((t) => !pastPositions(t, modelPositions));
  const tokenizationId = usable.some((t) => t.id === pickedTokenizationId)
    ? pickedTokenizationId
    : fitting.length === 1 ? (fitting[0]?.id ?? null) : null;

  const batchField = parsePositiveInt(batchSize);
  const maxTokensField = parsePositiveInt(maxTokens);
  const everyKField = positions === "every_k"
    ? (everyK.trim() === "" ? { value: null, error: "is needed for every_k" } : parsePositiveInt(everyK))
    : { value: 1, error: null };
  const fieldsValid = !batchField.error && !maxTokensField.error && !everyKField.error;

  const body = useMemo<ExtractionCreate | null>(() => {
    if (modelId === null || tokenizationId === null || selection.size === 0) return null;
    if (!fieldsValid) return null;
    return {
      model_id: modelId,
      tokenization_id: tokenizationId,
      hook_points: selectionToPatterns(selection, nLayers),
      batch_size: batchField.value ?? 8,
      positions: positions as ExtractionCreate["positions"],
      every_k: everyKField.value ?? 1,
      dtype: dtype as ExtractionCreate["dtype"],
      precision: (precision || null) as ExtractionCreate["precision"],
      max_tokens: maxTokensField.value,
      device: DEVICE,
    };
  }, [modelId, tokenizationId, selection, nLayers, fieldsValid, batchField.value, positions,
      everyKField.value, dtype, precision, maxTokensField.value]);

  // the report (or refusal) shown is only the one made for the request as it is now: any change
  // of a setting makes it stale, hides it and disables Start until a new preflight
  const asked = preflight.variables;
  const current = body && asked !== undefined && sameRequest(asked, { ...body, calibrate: true });
  const stale = asked !== undefined && !current && !preflight.isPending;
  const report = current ? preflight.data : undefined;
  const refusal = current ? preflight.error : null;
  // 503: no worker was free in time; the create queues the run unmeasured and its job measures it
  const notTaken = refusal instanceof ApiError && refusal.code === "preflight_not_taken";

  function pickModel(id: number | null) {
    setModelId(id);
    setTokenizationId(null);
    const layers = readyModels.find((m) => m.id === id)?.n_layers ?? 0;
    setSelection(new Set(Array.from({ length: layers }, (_, l) => cellKey(l, "resid_post"))));
    preflight.reset();
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    if (body) preflight.mutate({ ...body, calibrate: true });
  }

  return (
    <form className="extraction-config" onSubmit={submit} aria-label="New extraction">
      <h2>New extraction</h2>
      <div className="extraction-config__row">
        <label>
          Model
          <select aria-label="Model" value={modelId ?? ""}
            onChange={(e) => pickModel(e.target.value ? Number(e.target.value) : null)}>
            <option value="">choose a ready model</option>
            {readyModels.map((m) => (
              <option key={m.id} value={m.id}>
                {m.name} · #{m.id} ({m.n_layers} layers)
              </option>
            ))}
          </select>
        </label>
        <label>
          Dataset
          <select aria-label="Dataset" value={datasetId ?? ""}
            onChange={(e) => {
              setDatasetId(e.target.value ? Number(e.target.value) : null);
              setTokenizationId(null);
            }}>
            <option value="">choose a dataset</option>
            {readyDatasets.map((d) => (
              <option key={d.id} value={d.id}>{datasetLabel(d)}</option>
            ))}
          </select>
        </label>
        <label>
          Tokenization
          <select aria-label="Tokenization" value={tokenizationId ?? ""}
            disabled={datasetId === null || modelId === null}
            onChange={(e) => setTokenizationId(e.target.value ? Number(e.target.value) : null)}>
            {fitting.length !== 1 && (
              <option value="">
                {/* "none for this model" before any model was chosen read as a verdict */}
                {modelId === null || datasetId === null ? "pick a model and a dataset"
                  : usable.length ? "choose" : "none for this model"}
              </option>
            )}
            {usable.map((t) => (
              <option key={t.id} value={t.id}>
                {tokenizationLabel(t, modelPositions, madeWith(t))}
              </option>
            ))}
          </select>
        </label>
      </div>
      {datasetId !== null && modelId !== null && tokenizations.isSuccess && usable.length === 0 && (
        <p className="muted">
          This dataset has no tokenization made with this model's tokenizer (or another model's
          with identical tokenizer files): tokenize it on the Datasets page first (a
          tokenization of another tokenizer is refused).
        </p>
      )}
      {model && <HookGrid nLayers={nLayers} selection={selection} onChange={setSelection}
        unavailable={unavailable.data} />}
      <div className="extraction-config__row">
        <label>
          Batch size
          <input aria-label="Batch size" inputMode="numeric" placeholder="8" value={batchSize}
            aria-invalid={batchField.error ? true : undefined}
            aria-describedby={batchField.error ? "batch-size-error" : undefined}
            onChange={(e) => setBatchSize(e.target.value)} />
          <FieldError id="batch-size-error" label="Batch size" error={batchField.error} />
        </label>
        <label>
          Positions
          <select aria-label="Positions" value={positions}
            onChange={(e) => setPositions(e.target.value)}>
            {POSITION_MODES.map((mode) => <option key={mode} value={mode}>{mode}</option>)}
          </select>
        </label>
        {positions === "every_k" && (
          <label>
            k
            <input aria-label="Every k" inputMode="numeric" value={everyK}
              aria-invalid={everyKField.error ? true : undefined}
              aria-describedby={everyKField.error ? "every-k-error" : undefined}
              onChange={(e) => setEveryK(e.target.value)} />
            <FieldError id="every-k-error" label="k" error={everyKField.error} />
          </label>
        )}
        <label>
          Storage dtype
          <select aria-label="Storage dtype" value={dtype} onChange={(e) => setDtype(e.target.value)}>
            {STORAGE_DTYPES.map((d) => <option key={d} value={d}>{d}</option>)}
          </select>
        </label>
        <label>
          Precision
          <select aria-label="Precision" value={precision}
            onChange={(e) => setPrecision(e.target.value)}>
            {PRECISIONS.map((p) => (
              <option key={p} value={p}>
                {p || (model?.precision_used ? `model's (${model.precision_used})` : "model's")}
              </option>
            ))}
          </select>
        </label>
        <label>
          Max tokens
          <input aria-label="Max tokens" inputMode="numeric" placeholder="all" value={maxTokens}
            aria-invalid={maxTokensField.error ? true : undefined}
            aria-describedby={maxTokensField.error ? "max-tokens-error" : undefined}
            onChange={(e) => setMaxTokens(e.target.value)} />
          <FieldError id="max-tokens-error" label="Max tokens" error={maxTokensField.error} />
        </label>
      </div>
      {/* which positions every_k keeps was unsaid (k-1, 2k-1, ...: not 0, k, 2k); none while k
          is not a number (a k of 0 read "Keeps every token." beside "k must be at least 1") */}
      {positions !== "all" && !everyKField.error && (
        <p className="muted" data-testid="positions-hint">
          Keeps {positionsText(positions, everyKField.value ?? 1)}.
        </p>
      )}
      <div className="extraction-config__row">
        <Button type="submit" disabled={!body || preflight.isPending}>
          {preflight.isPending ? "Measuring…" : "Preflight"}
        </Button>
        {/* the server measures a batch again before it answers (seconds on a large model) */}
        <Button variant="primary"
          disabled={!body || !(report?.disk_ok || notTaken) || create.isPending}
          aria-busy={create.isPending || undefined}
          onClick={() => {
            if (!body || starting.current) return;
            starting.current = true;
            create.mutate(body, {
              onSuccess: (extraction) => {
                preflight.reset();
                onCreated?.(extraction);
              },
              onSettled: () => { starting.current = false; },
            });
          }}>
          {create.isPending
            ? onWorker ? "Starting…" : "Starting… (measuring a batch)"
            : "Start extraction"}
        </Button>
      </div>
      {preflight.isPending && onWorker && (
        <p className="muted" role="status" data-testid="preflight-on-worker">
          The preflight runs on a job worker, not on this server: the request waits for one to be
          free (up to {formatEta(placement.wait_s)}; a busy worker finishes its current job
          first), then the worker loads the model and times a batch.
        </p>
      )}
      {/* measured in this server's process, the wait read only "Measuring…" (25-50 s for
          SmolLM2-135M on 2 CPU cores): say what it waits for, as the worker case does */}
      {preflight.isPending && placement && !onWorker && (
        <p className="muted" role="status" data-testid="preflight-on-server">
          The server loads the model and times one batch before it answers: on a CPU, a minute or
          so for a model of a few hundred million parameters.
        </p>
      )}
      {refusal && (
        <ErrorMessage error={refusal}
          title={notTaken ? "No job worker was free to measure it:" : "Preflight refused:"} />
      )}
      {create.error && <ErrorMessage error={create.error} title="Could not start:" />}
      {/* the form went back to "Preflight" with nothing said; the new run's row may be far
          below the fold under a tall hook grid */}
      {create.data && !create.isPending && !create.error && (
        <p role="status" data-testid="extraction-started">
          Started <Link to={`/extractions/${create.data.id}`}>extraction #{create.data.id}</Link>:
          its live progress is in the history below and on its page.
        </p>
      )}
      <UnderwayLink error={create.error} />
      {/* Start stayed disabled with no word why until a first preflight (a browser walk) */}
      {body && asked === undefined && !preflight.isPending && (
        <p className="muted" data-testid="preflight-first">
          Run Preflight first: Start confirms what it measures (bytes to write, memory, time,
          free disk).
        </p>
      )}
      {stale && (
        <p className="muted" data-testid="preflight-stale">
          The settings changed since the last preflight: run Preflight again before starting.
        </p>
      )}
      {report && <PreflightPanel report={report} />}
    </form>
  );
}

function UnderwayLink({ error }: { error: unknown }) {
  const id = underwayExtractionId(error);
  if (id === null) return null;
  return <p><Link to={`/extractions/${id}`}>Open extraction #{id}</Link> (already underway)</p>;
}

/** "quotes · #4 · 1,200 rows": two datasets of one name are told apart. */
export function datasetLabel(d: DatasetOption): string {
  const rows = typeof d.rows === "number" ? ` · ${formatNumber(d.rows)} rows` : "";
  return `${d.name} · #${d.id}${rows}`;
}

/** "#2: 31,488 tokens · pack 256": a dataset's tokenizations with one tokenizer differ by policy;
 * one made past the model's `positions` says so, and one made with another model (`madeWith`,
 * whose tokenizer files are identical) names it. */
export function tokenizationLabel(t: TokenizationOption, positions: number | null = null,
  madeWith: string | null = null): string {
  const tokens = (t.counts ?? {}).tokens;
  const policy = ((t.policy ?? {}).requested ?? {}) as { mode?: string; max_length?: number };
  const how = policy.mode ? ` · ${policy.mode} ${policy.max_length ?? ""}`.trimEnd() : "";
  const past = pastPositions(t, positions)
    ? ` · past the model's ${formatNumber(positions ?? 0)} positions` : "";
  const other = madeWith ? ` · tokenized with ${madeWith}` : "";
  return `#${t.id}: ${typeof tokens === "number" ? formatNumber(tokens) : "?"} tokens${how}${past}${other}`;
}

/** Made with a max length past the model's `positions` (the server's rule:
 * `find_tokenization_for`); false where either is not known. */
function pastPositions(t: TokenizationOption, positions: number | null): boolean {
  const policy = (t.policy ?? {}) as { max_length?: unknown; requested?: { max_length?: unknown } };
  const made = policy.max_length ?? policy.requested?.max_length;
  return positions !== null && typeof made === "number" && made > positions;
}
