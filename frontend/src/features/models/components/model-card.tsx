/**
 * ModelCard: one model — name (renamable), status, source and identity, live progress while its
 * job runs, precision requested/used with the reason, parameters, layers, width, vocab, disk,
 * the fidelity badge, drift vs fp32 per measured precision, the source quantization of a model
 * imported from a quantized GGUF (its "fp32" is a float32 copy of 4-bit weights: the precision
 * says "from Q4_1" and a line says what that means), the files a folder import left out, actions, and (when ready) the architecture viewer. Not responsible for fetching the list.
 */
import { useState } from "react";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { formatBytes, formatNumber, formatPrecision } from "@/lib/format";
import { useRenameModel } from "../api/update-model";
import { isWorking, statusTone } from "../lib/model-status";
import type { Model } from "../types";
import { FidelityBadge } from "./fidelity-badge";
import { ImportSkipped } from "./import-skipped";
import { ModelActions } from "./model-actions";
import { ModelArchitectureViewer } from "./model-architecture-viewer";
import { ModelProgress } from "./model-progress";

type Drift = Record<string, { min_layer_cosine: number; last_layer_cosine: number }>;
type MemoryFacts = { resident_bytes?: number; estimated_bytes?: number };

/** The name field Rename opens: focused (Rename used to leave the focus on a button that was
 * gone), Enter saves, Escape or Cancel leaves it unchanged (there was no way back but Save). */
function RenameField({ model, onDone }: { model: Model; onDone: () => void }) {
  const [name, setName] = useState(model.name);
  const rename = useRenameModel();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        rename.mutate({ id: model.id, name }, { onSuccess: onDone });
      }}
    >
      <input aria-label="Model name" value={name} autoFocus onChange={(e) => setName(e.target.value)}
        onKeyDown={(e) => { if (e.key === "Escape") onDone(); }} />
      <Button size="sm" type="submit" disabled={rename.isPending}>
        Save
      </Button>
      <Button size="sm" variant="ghost" onClick={onDone}>
        Cancel
      </Button>
      {rename.error && <ErrorMessage error={rename.error} />}
    </form>
  );
}

export function ModelCard({ model }: { model: Model }) {
  const [renaming, setRenaming] = useState(false);
  const [showArchitecture, setShowArchitecture] = useState(false);
  const drift = ((model.info as { drift?: Drift }).drift ?? {}) as Drift;
  const memory = model.info as MemoryFacts;
  const identity = model.repo_id
    ? `${model.repo_id}@${(model.commit_sha ?? "").slice(0, 12)}`
    : model.key.slice(0, 18);
  const showProgress = model.job && (isWorking(model) || model.job.state === "running");
  const source = model.source_quantization;

  return (
    <article className="model-card" aria-label={`Model ${model.name}`}>
      <div className="model-card__head">
        {renaming ? (
          <RenameField model={model} onDone={() => setRenaming(false)} />
        ) : (
          <>
            <span className="model-card__name">{model.name}</span>
            <Button size="sm" variant="ghost" onClick={() => setRenaming(true)}>
              Rename
            </Button>
          </>
        )}
        <Badge tone={statusTone(model.status)}>{model.status}</Badge>
        <Badge tone="neutral">{model.source}</Badge>
        <code className="muted">{identity}</code>
        <FidelityBadge fidelity={model.fidelity} />
      </div>
      {showProgress && model.job && <ModelProgress job={model.job} />}
      {model.error_message && <ErrorMessage error={model.error_message} />}
      <dl className="model-card__facts">
        <div>
          <dt>precision</dt>
          <dd>
            {model.precision_used
              ? formatPrecision(model.precision_used, model.precision_requested) : "—"}
            {source && model.precision_used && (
              <span title={source.note}>{` (from ${source.type})`}</span>
            )}
          </dd>
        </div>
        <div>
          <dt>parameters</dt>
          <dd>{formatNumber(model.param_count)}</dd>
        </div>
        <div>
          <dt>layers</dt>
          <dd>{model.n_layers ?? "—"}</dd>
        </div>
        <div>
          <dt>d_model</dt>
          <dd>{model.d_model ?? "—"}</dd>
        </div>
        <div>
          <dt>vocab</dt>
          <dd>{formatNumber(model.vocab_size)}</dd>
        </div>
        <div>
          <dt>disk</dt>
          <dd>{formatBytes(model.disk_bytes)}</dd>
        </div>
        <div>
          <dt>memory</dt>
          <dd data-testid="model-memory"
            title="resident bytes of the weights at the precision used, measured on load; in
              brackets the estimate from the config, made before any weight was read">
            {formatBytes(memory.resident_bytes)}
            {/* "907 kB (estimated 907 kB)" said the same number twice */}
            {memory.estimated_bytes != null
              && formatBytes(memory.estimated_bytes) !== formatBytes(memory.resident_bytes)
              && ` (estimated ${formatBytes(memory.estimated_bytes)})`}
          </dd>
        </div>
        <div>
          <dt>type</dt>
          <dd>{model.model_type ?? "—"}</dd>
        </div>
        {Object.entries(drift).map(([precision, figures]) => (
          <div key={precision}>
            <dt>drift {precision} vs fp32</dt>
            <dd title="cosine of resid_post vs fp32: worst layer / last layer">
              {formatCosine(figures.min_layer_cosine)} / {formatCosine(figures.last_layer_cosine)}
            </dd>
          </div>
        ))}
      </dl>
      {model.precision_reason && (
        <div className="model-card__reason">precision: {model.precision_reason}</div>
      )}
      {source && (
        <div className="model-card__source" data-testid="source-quantization"
          title={`tensors by type: ${Object.entries(source.tensor_types)
            .map(([type, count]) => `${type} ${count}`).join(", ")}`}>
          source weights: {source.note}
        </div>
      )}
      <ImportSkipped info={model.info} />
      <div className="model-card__actions">
        <ModelActions model={model} />
        {model.status === "ready" && (
          <Button size="sm" onClick={() => setShowArchitecture((shown) => !shown)}>
            {showArchitecture ? "Hide architecture" : "Architecture"}
          </Button>
        )}
      </div>
      {showArchitecture && <ModelArchitectureViewer modelId={model.id} />}
    </article>
  );
}

/** A cosine near 1 with enough digits to tell fp16, bf16 and q8 apart (0.99996 read "1.0000"). */
export function formatCosine(cosine: number): string {
  return cosine >= 0.999 && cosine < 1 ? cosine.toFixed(6) : cosine.toFixed(4);
}
