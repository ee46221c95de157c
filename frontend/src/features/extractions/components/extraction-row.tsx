/**
 * One extraction in the history: name, status, live progress (tokens/s, ETA, GB captured and written, bound),
 * sizes, actions and a link to its results. Not responsible for fetching the list.
 */
import { Link } from "react-router";
import { Badge } from "@/components/ui/badge";
import { formatBytes, formatNumber, formatTimestamp } from "@/lib/format";
import { displayStatus, statusTone } from "../lib/extraction-status";
import type { Extraction } from "../types";
import { ExtractionActions } from "./extraction-actions";
import { ExtractionProgress, useExtractionJob } from "./extraction-progress";

export function ExtractionRow({ extraction }: { extraction: Extraction }) {
  const job = useExtractionJob(extraction);
  const status = displayStatus(extraction.status, job?.state);
  const counts = (extraction.counts ?? {}) as Record<string, number | null | undefined>;
  const points = (extraction.spec.hook_points_expanded as string[] | undefined)?.length;
  return (
    <article className="extraction-row" data-testid={`extraction-${extraction.id}`}>
      <div className="extraction-row__head">
        <Link to={`/extractions/${extraction.id}`} className="extraction-row__name">
          #{extraction.id} {extraction.name}
        </Link>
        <Badge tone={statusTone(status)}>{status}</Badge>
        <span className="muted">{formatTimestamp(extraction.created_at)}</span>
      </div>
      <dl className="extraction-row__facts">
        <dt>hook points</dt>
        <dd>{points ?? "?"}</dd>
        {/* a run not complete has only its plan's count: "tokens 8,192" on a run cancelled at
            2,000 read as 8,192 extracted */}
        <dt>{typeof counts.tokens === "number" ? "tokens" : "tokens planned"}</dt>
        <dd data-testid="extraction-tokens">{formatNumber(counts.tokens ?? counts.tokens_total)}</dd>
        {/* a finished run's counts only: while it runs, or once it stopped short, the job's line
            below says what is written ("written —" sat beside "kept ... 0.270 GB written") */}
        {typeof counts.bytes === "number" && (
          <>
            <dt>written</dt>
            <dd>{formatBytes(counts.bytes)}</dd>
            <dt>speed</dt>
            <dd>{counts.tokens_per_s ? `${formatNumber(Math.round(counts.tokens_per_s))} tok/s` : "–"}</dd>
          </>
        )}
        <dt>precision</dt>
        <dd>{extraction.precision_used ?? extraction.precision_requested ?? "?"}</dd>
        <dt>bound</dt>
        <dd>{String(extraction.info.bound ?? "?")}</dd>
      </dl>
      <ExtractionProgress extraction={extraction} />
      {extraction.error_message && <div className="extraction-row__error">{extraction.error_message}</div>}
      <ExtractionActions id={extraction.id} jobState={job?.state ?? null} />
    </article>
  );
}
