/**
 * A tiny SVG line chart of recent samples (no axes; the latest value is shown beside it).
 * Not responsible for keeping history (callers pass the samples).
 */

type SparklineProps = {
  values: readonly number[];
  /** Fixed range for percentages (0..100); defaults to the data's own range. */
  min?: number;
  max?: number;
  /** Number of sample slots across the width, so a short history starts at the right edge. */
  capacity?: number;
  label: string;
  width?: number;
  height?: number;
};

export function Sparkline({
  values,
  min,
  max,
  capacity,
  label,
  width = 160,
  height = 32,
}: SparklineProps) {
  const finite = values.filter((v) => Number.isFinite(v));
  const lo = min ?? Math.min(...finite, 0);
  const hi = max ?? Math.max(...finite, lo + 1);
  const span = hi - lo || 1;
  const slots = Math.max(capacity ?? values.length, values.length, 2);
  const step = width / (slots - 1);
  const offset = slots - values.length;
  const points = values
    .map((v, i) => {
      const x = (offset + i) * step;
      const y = height - ((Math.min(hi, Math.max(lo, v)) - lo) / span) * (height - 2) - 1;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(" ");
  return (
    <svg
      className="sparkline"
      role="img"
      aria-label={label}
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      preserveAspectRatio="none"
    >
      <line className="sparkline__base" x1={0} x2={width} y1={height - 0.5} y2={height - 0.5} />
      {values.length > 1 && <polyline className="sparkline__line" points={points} />}
    </svg>
  );
}
