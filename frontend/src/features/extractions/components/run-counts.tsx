/**
 * A run's counts as `<dt>`/`<dd>` pairs inside an `extraction-row__facts` list, the same words for
 * the same numbers in the history's card and on the results page: "tokens" are the tokens run
 * through the model (`counts.tokens`), "rows per hook point" the activation rows stored at each
 * point (`counts.rows`). They are equal only under positions `all`: the card said "tokens 4,096"
 * where the results page said "rows 4,096" for one run, and under `last` the two differ (16,384
 * tokens, 64 rows). A run not complete has only its plan's token count ("tokens planned"); what it
 * has written, the job's progress line says live. Not responsible for the other facts around them.
 */
import { formatBytes, formatNumber } from "@/lib/format";
import type { Extraction } from "../types";

type Counts = Record<string, number | null | undefined>;

/** `planned`: a run not complete shows its planned token count (the history's card). */
export function RunCounts({ extraction, planned = false }: {
  extraction: Extraction;
  planned?: boolean;
}) {
  const counts = (extraction.counts ?? {}) as Counts;
  // a run not complete has only its plan's count: "tokens 8,192" on a run cancelled at 2,000
  // read as 8,192 extracted
  const ran = typeof counts.tokens === "number";
  if (!ran && !planned) return null;
  return (
    <>
      <dt title={TOKENS_TITLE}>{ran ? "tokens" : "tokens planned"}</dt>
      <dd data-testid="extraction-tokens">{formatNumber(counts.tokens ?? counts.tokens_total)}</dd>
      {typeof counts.rows === "number" && (
        <>
          <dt title={ROWS_TITLE}>rows per hook point</dt>
          <dd data-testid="extraction-rows">{formatNumber(counts.rows)}</dd>
        </>
      )}
      {/* a finished run's counts only: while it runs, or once it stopped short, the job's line
          says what is written ("written —" sat beside "kept ... 0.270 GB written") */}
      {typeof counts.bytes === "number" && (
        <>
          <dt>written</dt>
          <dd>{formatBytes(counts.bytes)}</dd>
          <dt>speed</dt>
          <dd>{counts.tokens_per_s ? `${formatNumber(Math.round(counts.tokens_per_s))} tok/s` : "–"}</dd>
        </>
      )}
    </>
  );
}

const TOKENS_TITLE = "tokens run through the model";
const ROWS_TITLE = "activation rows stored at each hook point (one per kept position)";
