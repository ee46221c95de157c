/**
 * Plain-SVG charts of the results page: `LineChart` (one line per series over layers, e.g. the
 * mean L2 norm per layer for each hook kind) and `Histogram` (bars from edges + counts).
 * Not responsible for fetching or choosing what to plot.
 */
const WIDTH = 520;
const HEIGHT = 200;
const PAD = { left: 48, right: 12, top: 10, bottom: 28 };
const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c"];

export type Series = { name: string; points: { x: number; y: number | null }[] };

function scale(domain: [number, number], range: [number, number]) {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0 || 1;
  return (value: number) => r0 + ((value - d0) / span) * (r1 - r0);
}

/** A round step (1, 2, 2.5 or 5 times a power of ten) giving about `count` intervals over the span. */
function niceStep(span: number, count: number): number {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * power >= raw) ?? 10;
  return step * power;
}

/** Round tick values inside [min, max] (0, 250, 500, 750, 1000 rather than 0, 252, 503, ...). */
export function niceTicks(min: number, max: number, count = 4): number[] {
  if (!(max > min)) return [min];
  const step = niceStep(max - min, count);
  const first = Math.ceil(min / step - 1e-9);
  const last = Math.floor(max / step + 1e-9);
  // step * i, not a running sum: 0.1 + 0.2 would print 0.30000000000000004
  return Array.from({ length: last - first + 1 }, (_, i) => Number(((first + i) * step).toPrecision(12)));
}

/** The top of an axis from 0: `max` raised to its next round tick, so the top line is labelled. */
export function niceMax(min: number, max: number, count = 4): number {
  if (!(max > min)) return max;
  const step = niceStep(max - min, count);
  return Math.ceil(max / step - 1e-9) * step;
}

function formatTick(value: number): string {
  const size = Math.abs(value);
  if (size !== 0 && (size >= 1e6 || size < 1e-2)) return value.toExponential(2);
  return Number(value.toPrecision(4)).toLocaleString("en-US");  // 19,500, not 1.9e+4 twice
}

/** A bin edge in a bar's title: enough digits that neighbouring edges differ (19,012..19,034,
 * where the ticks' 1.9e+4..1.9e+4 hid the bin). */
export function formatEdge(value: number): string {
  const size = Math.abs(value);
  if (size !== 0 && (size >= 1e9 || size < 1e-3)) return value.toExponential(5);
  return Number(value.toPrecision(6)).toLocaleString("en-US", { maximumFractionDigits: 6 });
}

/** The layers labelled on the x axis: every one up to 16, else every 2nd, 5th, 10th, ... from
 * the first (30 labels ran "27" into "28"; a 48- or 80-layer model's were one smear). */
export function layerTicks(values: number[], most = 16): number[] {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  let every = 1;
  for (const step of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]) {
    every = step;
    if (Math.ceil(sorted.length / step) <= most) break;
  }
  return sorted.filter((_, i) => i % every === 0);
}

/** A tick label near an edge of the plot is anchored inward, so it is not cut off. */
function anchorAt(position: number): "start" | "middle" | "end" {
  if (position > WIDTH - PAD.right - 16) return "end";
  if (position < PAD.left + 16) return "start";
  return "middle";
}

export function LineChart({ series, title, xLabel }: {
  series: Series[];
  title: string;
  xLabel: string;
}) {
  const points = series.flatMap((s) => s.points.filter((p) => p.y !== null));
  if (points.length === 0) return <p className="muted">No data to plot.</p>;
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y as number);
  // one layer (a one-point store) sits mid-axis, not on the left edge with its dot cut in half
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const x = scale(x0 === x1 ? [x0 - 1, x0 + 1] : [x0, x1], [PAD.left, WIDTH - PAD.right]);
  const yMin = Math.min(0, ...ys);
  const yMax = niceMax(yMin, Math.max(...ys));
  const y = scale([yMin, yMax], [HEIGHT - PAD.bottom, PAD.top]);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={title}>
        {niceTicks(yMin, yMax).map((t) => (
          <g key={`y${t}`}>
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(t)} y2={y(t)} className="chart__grid" />
            <text x={PAD.left - 4} y={y(t) + 3} textAnchor="end" className="chart__tick">
              {formatTick(t)}
            </text>
          </g>
        ))}
        {layerTicks(xs).map((value) => (
          <text key={`x${value}`} x={x(value)} y={HEIGHT - 12} textAnchor={anchorAt(x(value))}
            className="chart__tick">
            {value}
          </text>
        ))}
        <text x={WIDTH / 2} y={HEIGHT - 1} textAnchor="middle" className="chart__tick">
          {xLabel}
        </text>
        {series.map((s, index) => {
          const drawn = s.points.filter((p) => p.y !== null);
          const path = drawn.map((p, i) => `${i ? "L" : "M"}${x(p.x)},${y(p.y as number)}`);
          const colour = COLOURS[index % COLOURS.length];
          return (
            <g key={s.name} data-testid={`series-${s.name}`}>
              <path d={path.join(" ")} fill="none" stroke={colour} strokeWidth={2} />
              {drawn.map((p) => (
                <circle key={p.x} cx={x(p.x)} cy={y(p.y as number)} r={2.5} fill={colour} />
              ))}
            </g>
          );
        })}
      </svg>
      <div className="chart__legend">
        {series.map((s, index) => (
          <span key={s.name}>
            <i style={{ background: COLOURS[index % COLOURS.length] }} /> {s.name}
          </span>
        ))}
      </div>
    </figure>
  );
}

export function Histogram({ edges, counts, title }: {
  edges: number[];
  counts: number[];
  title: string;
}) {
  if (counts.length === 0 || edges.length !== counts.length + 1) {
    return <p className="muted">No histogram for this hook point.</p>;
  }
  const first = edges[0] ?? 0;
  const last = edges[edges.length - 1] ?? 0;
  if (!(last > first)) {
    // every row has one norm (one row; or the first position of a model that prepends BOS: that
    // row sees only BOS, so it is the same in every sequence): all bins are zero-width at one
    // x, which drew a hairline
    const rows = counts.reduce((sum, count) => sum + count, 0);
    return (
      <figure className="chart">
        <figcaption>{title}</figcaption>
        <p className="muted" data-testid="histogram-one-value">
          {rows === 1 ? "One row" : `All ${rows.toLocaleString("en-US")} rows`}, L2 norm{" "}
          {formatEdge(first)}
        </p>
      </figure>
    );
  }
  const edge = (i: number) => edges[i] ?? 0;
  const x = scale([first, last], [PAD.left, WIDTH - PAD.right]);
  // a rows axis from 0 with round ticks (it had one label, the tallest bar's count, at the top
  // and no 0: "224" beside the bars, unit unsaid)
  const top = niceMax(0, Math.max(...counts, 1));
  const y = scale([0, top], [HEIGHT - PAD.bottom, PAD.top]);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={title}>
        {niceTicks(0, top).filter(Number.isInteger).map((t) => (
          <g key={`y${t}`}>
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(t)} y2={y(t)} className="chart__grid" />
            <text x={PAD.left - 4} y={y(t) + 3} textAnchor="end" className="chart__tick"
              data-testid="histogram-y-tick">
              {formatTick(t)}
            </text>
          </g>
        ))}
        <text x={10} y={(HEIGHT - PAD.bottom + PAD.top) / 2} textAnchor="middle"
          transform={`rotate(-90 10 ${(HEIGHT - PAD.bottom + PAD.top) / 2})`} className="chart__tick">
          rows
        </text>
        {counts.map((count, i) => (
          <rect key={i} data-testid="histogram-bar" x={x(edge(i))}
            width={Math.max(0.5, x(edge(i + 1)) - x(edge(i)) - 0.5)} y={y(count)}
            height={HEIGHT - PAD.bottom - y(count)} className="chart__bar">
            <title>{`${formatEdge(edge(i))}..${formatEdge(edge(i + 1))}: ${count.toLocaleString("en-US")}`}</title>
          </rect>
        ))}
        {niceTicks(first, last).map((t) => (
          <text key={t} x={x(t)} y={HEIGHT - 12} textAnchor={anchorAt(x(t))}
            className="chart__tick">
            {formatTick(t)}
          </text>
        ))}
        <text x={WIDTH / 2} y={HEIGHT - 1} textAnchor="middle" className="chart__tick">
          L2 norm of a row
        </text>
      </svg>
    </figure>
  );
}
