/**
 * ActivationExtractionConfig: model, dataset -> tokenization (made with that model's tokenizer),
 * the layer x hook-type grid, batch, positions, storage dtype, limits; "Preflight" measures it on
 * the server, the panel shows the estimates, "Start extraction" confirms.
 * Not responsible for the run's progress (the list shows it live).
 */
import { type FormEvent, useMemo, useState } from "react";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { formatNumber } from "@/lib/format";
import { useCreateExtraction } from "../api/create-extraction";
import {
  useDatasetOptions,
  useModelOptions,
  useTokenizationOptions,
  useUnavailableHookPoints,
} from "../api/get-picker-options";
import { usePreflightExtraction } from "../api/preflight-extraction";
import { cellKey, selectionToPatterns } from "../lib/hook-grid";
import {
  type Extraction,
  type ExtractionCreate,
  POSITION_MODES,
  STORAGE_DTYPES,
  type TokenizationOption,
} from "../types";
import { HookGrid } from "./hook-grid";
import { PreflightPanel } from "./preflight-panel";

const PRECISIONS = ["", "fp32", "fp16", "bf16", "q8", "q4", "q2"] as const;

function optionalInt(text: string): number | null {
  const value = Number.parseInt(text, 10);
  return Number.isFinite(value) && value > 0 ? value : null;
}

export function ActivationExtractionConfig({ onCreated }: {
  onCreated?: (extraction: Extraction) => void;
}) {
  const models = useModelOptions();
  const datasets = useDatasetOptions();
  const [modelId, setModelId] = useState<number | null>(null);
  const [datasetId, setDatasetId] = useState<number | null>(null);
  const [tokenizationId, setTokenizationId] = useState<number | null>(null);
  const tokenizations = useTokenizationOptions(datasetId);
  const unavailable = useUnavailableHookPoints(modelId);
  const [selection, setSelection] = useState<Set<string>>(new Set());
  const [batchSize, setBatchSize] = useState("8");
  const [positions, setPositions] = useState<string>("all");
  const [everyK, setEveryK] = useState("4");
  const [dtype, setDtype] = useState<string>("float16");
  const [precision, setPrecision] = useState<string>("");
  const [maxTokens, setMaxTokens] = useState("");
  const preflight = usePreflightExtraction();
  const create = useCreateExtraction();

  const readyModels = (models.data?.items ?? []).filter((m) => m.status === "ready");
  const model = readyModels.find((m) => m.id === modelId) ?? null;
  const nLayers = model?.n_layers ?? 0;
  const usable = (tokenizations.data?.items ?? []).filter(
    (t) => t.model_id === modelId && t.status === "ready",
  );

  const body = useMemo<ExtractionCreate | null>(() => {
    if (modelId === null || tokenizationId === null || selection.size === 0) return null;
    return {
      model_id: modelId,
      tokenization_id: tokenizationId,
      hook_points: selectionToPatterns(selection, nLayers),
      batch_size: optionalInt(batchSize) ?? 8,
      positions: positions as ExtractionCreate["positions"],
      every_k: positions === "every_k" ? (optionalInt(everyK) ?? 1) : 1,
      dtype: dtype as ExtractionCreate["dtype"],
      precision: (precision || null) as ExtractionCreate["precision"],
      max_tokens: optionalInt(maxTokens),
      device: "auto",
    };
  }, [modelId, tokenizationId, selection, nLayers, batchSize, positions, everyK, dtype,
      precision, maxTokens]);

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
                {m.name} ({m.n_layers} layers)
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
            {(datasets.data?.items ?? []).map((d) => (
              <option key={d.id} value={d.id}>{d.name}</option>
            ))}
          </select>
        </label>
        <label>
          Tokenization
          <select aria-label="Tokenization" value={tokenizationId ?? ""}
            disabled={datasetId === null || modelId === null}
            onChange={(e) => setTokenizationId(e.target.value ? Number(e.target.value) : null)}>
            <option value="">{usable.length ? "choose" : "none for this model"}</option>
            {usable.map((t) => (
              <option key={t.id} value={t.id}>{tokenizationLabel(t)}</option>
            ))}
          </select>
        </label>
      </div>
      {datasetId !== null && modelId !== null && tokenizations.isSuccess && usable.length === 0 && (
        <p className="muted">
          This dataset has no tokenization made with this model's tokenizer: tokenize it on the
          Datasets page first (a tokenization of another tokenizer is refused).
        </p>
      )}
      {model && <HookGrid nLayers={nLayers} selection={selection} onChange={setSelection}
        unavailable={unavailable.data} />}
      <div className="extraction-config__row">
        <label>
          Batch size
          <input aria-label="Batch size" inputMode="numeric" value={batchSize}
            onChange={(e) => setBatchSize(e.target.value)} />
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
              onChange={(e) => setEveryK(e.target.value)} />
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
              <option key={p} value={p}>{p || `model's (${model?.precision_used ?? "?"})`}</option>
            ))}
          </select>
        </label>
        <label>
          Max tokens
          <input aria-label="Max tokens" inputMode="numeric" placeholder="all" value={maxTokens}
            onChange={(e) => setMaxTokens(e.target.value)} />
        </label>
      </div>
      <div className="extraction-config__row">
        <Button type="submit" disabled={!body || preflight.isPending}>
          {preflight.isPending ? "Measuring…" : "Preflight"}
        </Button>
        <Button variant="primary" disabled={!body || !preflight.data?.disk_ok || create.isPending}
          onClick={() => body && create.mutate(body, {
            onSuccess: (extraction) => {
              preflight.reset();
              onCreated?.(extraction);
            },
          })}>
          Start extraction
        </Button>
      </div>
      {preflight.error && <ErrorMessage error={preflight.error} title="Preflight refused:" />}
      {create.error && <ErrorMessage error={create.error} title="Could not start:" />}
      {preflight.data && <PreflightPanel report={preflight.data} />}
    </form>
  );
}

/** "#2: 31,488 tokens · pack 256": a dataset's tokenizations with one tokenizer differ by policy. */
export function tokenizationLabel(t: TokenizationOption): string {
  const tokens = (t.counts ?? {}).tokens;
  const policy = ((t.policy ?? {}).requested ?? {}) as { mode?: string; max_length?: number };
  const how = policy.mode ? ` · ${policy.mode} ${policy.max_length ?? ""}`.trimEnd() : "";
  return `#${t.id}: ${typeof tokens === "number" ? formatNumber(tokens) : "?"} tokens${how}`;
}
