/**
 * One extraction in the history: name, status, live progress (tokens/s, ETA, GB captured and written, bound),
 * counts (`RunCounts`: in the results page's words), actions and a link to its results. Not
 * responsible for fetching the list.
 */
import { Link } from "react-router";
import { Badge } from "@/components/ui/badge";
import { formatTimestamp } from "@/lib/format";
import { displayStatus, statusTone } from "../lib/extraction-status";
import type { Extraction } from "../types";
import { ExtractionActions } from "./extraction-actions";
import { ExtractionProgress, useExtractionJob } from "./extraction-progress";
import { RunCounts } from "./run-counts";

export function ExtractionRow({ extraction }: { extraction: Extraction }) {
  const job = useExtractionJob(extraction);
  const status = displayStatus(extraction.status, job?.state);
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
        <RunCounts extraction={extraction} planned />
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
