/**
 * A horizontal bar chart of a length histogram (characters per row, or tokens per sequence).
 * Not responsible for computing it (the backend streams exact counts).
 */
import { formatNumber } from "@/lib/format";
import { histogramBars } from "../lib/histogram";
import type { HistogramBucket } from "../types";

export function LengthHistogram({ title, buckets }: { title: string; buckets: HistogramBucket[] }) {
  const bars = histogramBars(buckets);
  return (
    <figure className="histogram" aria-label={title}>
      <figcaption className="muted">{title}</figcaption>
      {bars.map((bar) => (
        <div className="histogram__row" key={bar.label}>
          <span className="num">{bar.label}</span>
          <div className="histogram__bar" style={{ width: `${(bar.fraction * 100).toFixed(1)}%` }} />
          <span className="histogram__count num">{formatNumber(bar.count)}</span>
        </div>
      ))}
      {bars.length === 0 && <span className="muted">No rows.</span>}
    </figure>
  );
}
