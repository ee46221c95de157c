/**
 * The dataset's tokenizations: the tokenizer (its model's name, the key on hover), stored policy,
 * live job progress (rows, with tokens in the message), exact counts, token-length histogram,
 * unique and top tokens (as they read, `token-label.ts`), and stored sequences beside their text.
 * Not responsible for creating them (see `tokenization-form.tsx`).
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { ProgressBar } from "@/components/ui/progress-bar";
import { formatCount, formatNumber } from "@/lib/format";
import { FINISHED_JOB_STATES, useLiveJob } from "@/lib/live-job";
import { datasetKeys } from "../api/dataset-keys";
import { useTokenizationPreview } from "../api/get-tokenization-preview";
import { useTokenizations } from "../api/get-tokenizations";
import { useTokenizerModels } from "../api/get-tokenizer-models";
import { statusTone } from "../lib/dataset-status";
import { describePolicy } from "../lib/policy";
import { tokenLabel, tokenTitle } from "../lib/token-label";
import type { HistogramBucket, Tokenization } from "../types";
import { LengthHistogram } from "./length-histogram";
import { TextBesideTokens } from "./token-pieces";

/** Whose tokenizer it is: the model's name, or the key (`local:<sha256>`) until the name is known
 * (the models list is loading, or the model is no longer ready); the key is always the title. */
function TokenizerName({ tokenization }: { tokenization: Tokenization }) {
  const models = useTokenizerModels();
  const model = models.data?.items.find((m) => m.id === tokenization.model_id);
  return (
    <span className="tokenization__key" title={tokenization.tokenizer_key}>
      {model ? <>tokenizer of {model.name}</> : <code>{tokenization.tokenizer_key}</code>}
    </span>
  );
}

function TokenizationItem({ tokenization }: { tokenization: Tokenization }) {
  const queryClient = useQueryClient();
  const job = useLiveJob(tokenization.job_id, tokenization.job).data;
  const [showPreview, setShowPreview] = useState(false);
  const ready = tokenization.status === "ready";
  const preview = useTokenizationPreview(tokenization.id, 0, ready && showPreview);
  const counts = (tokenization.counts ?? {}) as Record<string, number>;
  const stats = (tokenization.stats ?? {}) as {
    unique_tokens?: number;
    // `text`: what the piece reads as (absent in tokenizations made before it was stored)
    top_tokens?: { id: number; count: number; piece: string | null; text?: string | null }[];
    sequence_lengths?: { histogram: HistogramBucket[]; mean: number | null };
  };
  const jobFinished = job ? FINISHED_JOB_STATES.has(job.state) : false;

  useEffect(() => {
    if (jobFinished && !ready) {
      void queryClient.invalidateQueries({
        queryKey: datasetKeys.tokenizations(tokenization.dataset_id),
      });
    }
  }, [jobFinished, ready, queryClient, tokenization.dataset_id]);

  return (
    <article className="panel" aria-label={`Tokenization ${tokenization.id}`}>
      <div className="form-row">
        <strong>#{tokenization.id}</strong>
        <TokenizerName tokenization={tokenization} />
        <Badge tone={statusTone(tokenization.status)}>{tokenization.status}</Badge>
      </div>
      <ul className="policy-summary">
        {describePolicy(tokenization.policy).map((line) => (
          <li key={line}>{line}</li>
        ))}
      </ul>
      {job && !jobFinished && (
        <div className="upload-progress">
          <ProgressBar label={`Tokenization ${tokenization.id} progress`} value={job.progress ?? null} />
          <span className="num">
            {formatNumber(job.done)} / {formatNumber(job.total)} rows {job.message ? `— ${job.message}` : ""}
          </span>
        </div>
      )}
      {tokenization.error_message && <ErrorMessage error={tokenization.error_message} />}
      {ready && (
        <>
          <dl className="facts">
            <dt>sequences</dt>
            <dd className="num">{formatNumber(counts.sequences)}</dd>
            <dt>tokens</dt>
            <dd className="num">{formatNumber(counts.tokens)}</dd>
            <dt>truncated sequences</dt>
            <dd className="num">
              {formatNumber(counts.truncated_sequences)} ({formatCount(counts.truncated_tokens, "token")} cut)
            </dd>
            <dt>dropped rows</dt>
            <dd className="num">{formatNumber(counts.dropped_rows)}</dd>
            <dt>tail tokens dropped (packing)</dt>
            <dd className="num">{formatNumber(counts.tail_tokens_dropped)}</dd>
            <dt>unique tokens</dt>
            <dd className="num">{formatNumber(stats.unique_tokens)}</dd>
            <dt>top tokens</dt>
            <dd>
              {(stats.top_tokens ?? []).slice(0, 10).map((t) => (
                <span key={t.id} className="piece" title={tokenTitle(t.id, t.piece, t.text)}>
                  {tokenLabel(t.piece, t.text)} ×{formatNumber(t.count)}
                </span>
              ))}
            </dd>
          </dl>
          {stats.sequence_lengths && (
            <LengthHistogram title="Tokens per sequence" buckets={stats.sequence_lengths.histogram} />
          )}
          <Button size="sm" onClick={() => setShowPreview((v) => !v)}>
            {showPreview ? "Hide sequences" : "Show sequences beside their text"}
          </Button>
          {preview.error && <ErrorMessage error={preview.error} />}
          {showPreview &&
            preview.data?.items.map((item) => (
              <TextBesideTokens key={item.index} text={item.text} view={item} note={`sequence ${item.index}`} />
            ))}
        </>
      )}
    </article>
  );
}

export function TokenizationsList({ datasetId }: { datasetId: number }) {
  const tokenizations = useTokenizations(datasetId, true);
  if (tokenizations.error) return <ErrorMessage error={tokenizations.error} />;
  const items = tokenizations.data?.items ?? [];
  return (
    <section aria-label="Tokenizations">
      <h3 className="section-title">Tokenizations</h3>
      {items.length === 0 && <p className="muted">None yet.</p>}
      {items.map((t) => (
        <TokenizationItem key={t.id} tokenization={t} />
      ))}
    </section>
  );
}
