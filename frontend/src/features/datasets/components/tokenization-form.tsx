/**
 * "Tokenize": choose a ready model's tokenizer and the policy (max length, truncate or pack, BOS,
 * drop-short threshold), read the policy spelled out as the server resolves it, preview the first
 * rows beside their token pieces, then queue the job. The max length starts at the default (1024)
 * or the chosen model's positions where fewer (`ModelRead.positions`, the limit the server holds
 * a tokenization to), which the field shows and checks before a request. Where the dataset
 * already has a tokenization under that policy the chosen model may use (its own, or one made
 * with byte-identical tokenizer files: `usable-tokenization.ts`), the form names it instead of
 * offering to make a duplicate; a duplicate refused by the server says so as such. Not
 * responsible for showing the job.
 */
import { type FormEvent, useState } from "react";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { FieldError } from "@/components/ui/field-error";
import { ApiError } from "@/lib/api-client";
import { formatNumber } from "@/lib/format";
import { useCreateTokenization } from "../api/create-tokenization";
import { useUsableTokenizations } from "../api/get-tokenizations";
import { useTokenizerModels } from "../api/get-tokenizer-models";
import { usePolicyPreview } from "../api/preview-policy";
import { describePolicy } from "../lib/policy";
import { existingTokenizationFor } from "../lib/usable-tokenization";
import type { PolicyPreviewRequest, Tokenization, TokenizationPolicy } from "../types";
import { TextBesideTokens } from "./token-pieces";

type BosChoice = "default" | "yes" | "no";

/** The server's default max length (`TokenizationPolicySpec.max_length`). */
const DEFAULT_MAX_LENGTH = 1024;

export function TokenizationForm({ datasetId }: { datasetId: number }) {
  const models = useTokenizerModels();
  const [modelId, setModelId] = useState<number | null>(null);
  const [typedMaxLength, setMaxLength] = useState<string | null>(null); // null: not typed
  const [mode, setMode] = useState<"truncate" | "pack">("truncate");
  const [bos, setBos] = useState<BosChoice>("default");
  const [minTokens, setMinTokens] = useState("1");
  const [previewBody, setPreviewBody] = useState<PolicyPreviewRequest | null>(null);
  const create = useCreateTokenization(datasetId);
  const preview = usePolicyPreview(datasetId, previewBody);
  const chosenModel = modelId ?? models.data?.items[0]?.id ?? null;
  const model = models.data?.items.find((m) => m.id === chosenModel);
  const positions = model?.positions ?? null;
  const positionsSource = model?.positions_source ?? undefined;
  const maxLength = typedMaxLength
    ?? String(positions === null ? DEFAULT_MAX_LENGTH : Math.min(DEFAULT_MAX_LENGTH, positions));
  const maxLengthError = positions !== null && Number(maxLength) > positions
    ? `is more than the model's ${formatNumber(positions)} positions` : null;

  const policy: TokenizationPolicy = {
    max_length: Number(maxLength),
    mode,
    add_bos: bos === "default" ? null : bos === "yes",
    min_tokens: Number(minTokens),
  };
  // the preview (the server's resolved policy and its rows) is shown only while it is the preview
  // of the form as it is now; after any change the summary says the form's policy
  const previewCurrent = previewBody !== null && previewBody.model_id === chosenModel
    && JSON.stringify(previewBody.policy) === JSON.stringify(policy);
  const shownPreview = previewCurrent ? preview.data : undefined;
  const shown = shownPreview?.policy ?? policy;
  const usable = useUsableTokenizations(datasetId, chosenModel);
  const existing = model && maxLengthError === null
    ? existingTokenizationFor(usable.data?.items ?? [], model.key, policy) : undefined;
  const makerName = (made: Tokenization) => {
    const maker = models.data?.items.find((m) => m.id === made.model_id);
    return maker ? `${maker.name} · #${maker.id}` : made.tokenizer_key;
  };
  const refusedAsDuplicate = create.error instanceof ApiError
    && create.error.code === "tokenization_exists";

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (chosenModel !== null && maxLengthError === null && existing === undefined) {
      create.mutate({ model_id: chosenModel, policy, batch_rows: 1024 });
    }
  };

  return (
    <section className="panel" aria-label="Tokenize">
      <h3>Tokenize</h3>
      <form className="form-grid" onSubmit={submit}>
        <label>
          <span>Tokenizer of model</span>
          <select
            value={chosenModel ?? ""}
            onChange={(e) => setModelId(Number(e.target.value))}
            required
          >
            {(models.data?.items ?? []).map((m) => (
              <option key={m.id} value={m.id} title={m.key}>
                {m.name} · #{m.id}
              </option>
            ))}
          </select>
        </label>
        {models.data?.items.length === 0 && (
          <p className="muted">No ready model yet: add one in Models; its tokenizer is used here.</p>
        )}
        <div className="form-row">
          <label>
            <span>Max length</span>
            <input
              aria-label="Max length"
              type="number"
              min={1}
              required
              value={maxLength}
              onChange={(e) => setMaxLength(e.target.value)}
              aria-invalid={maxLengthError ? true : undefined}
              aria-describedby={positions === null ? undefined : "tokenize-max-length-note"}
            />
            {maxLengthError ? (
              <FieldError id="tokenize-max-length-note" label="Max length" error={maxLengthError} />
            ) : (
              positions !== null && (
                <span id="tokenize-max-length-note" className="muted" title={positionsSource}>
                  model has {formatNumber(positions)} positions
                </span>
              )
            )}
          </label>
          <label>
            <span>Long rows</span>
            <select value={mode} onChange={(e) => setMode(e.target.value as "truncate" | "pack")}>
              <option value="truncate">truncate (one sequence per row)</option>
              <option value="pack">pack (join with EOS, full windows)</option>
            </select>
          </label>
          <label>
            <span>BOS</span>
            <select value={bos} onChange={(e) => setBos(e.target.value as BosChoice)}>
              <option value="default">tokenizer's default</option>
              <option value="yes">prepend</option>
              <option value="no">don't prepend</option>
            </select>
          </label>
          <label>
            <span>Drop rows under (tokens)</span>
            <input type="number" min={0} required value={minTokens} onChange={(e) => setMinTokens(e.target.value)} />
          </label>
        </div>
        <ul className="policy-summary" aria-label="Policy">
          {describePolicy(shown).map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
        {existing && model && (
          <p className="tokenize-existing" role="status" aria-label="Already tokenized">
            <strong>Tokenization #{existing.id}</strong> ({existing.status}) has this policy
            {existing.tokenizer_key === model.key
              ? " with this model's tokenizer"
              : `, made with the tokenizer of ${makerName(existing)}: its tokenizer files are `
                + `identical to ${model.name}'s, so ${model.name} uses it`}
            . Use tokenization #{existing.id}, or change the policy to make another.
          </p>
        )}
        <div className="form-row">
          <Button
            disabled={chosenModel === null || maxLengthError !== null}
            onClick={() =>
              chosenModel !== null && setPreviewBody({ model_id: chosenModel, policy, limit: 3 })
            }
          >
            Preview tokens
          </Button>
          <Button
            type="submit"
            variant="primary"
            disabled={chosenModel === null || create.isPending || maxLengthError !== null
              || existing !== undefined}
          >
            {create.isPending ? "Starting…" : "Tokenize"}
          </Button>
        </div>
      </form>
      {models.error && <ErrorMessage error={models.error} title="Models unavailable:" />}
      {previewCurrent && preview.error && <ErrorMessage error={preview.error} title="No preview:" />}
      {create.error && !(refusedAsDuplicate && existing) && (
        <ErrorMessage
          error={create.error}
          title={refusedAsDuplicate ? "Already tokenized:" : "Not started:"}
        />
      )}
      {shownPreview?.rows.map((row) => (
        <TextBesideTokens
          key={row.source_row}
          text={row.text}
          view={row}
          note={row.dropped ? "dropped (too short)" : row.truncated ? "truncated" : undefined}
        />
      ))}
    </section>
  );
}
