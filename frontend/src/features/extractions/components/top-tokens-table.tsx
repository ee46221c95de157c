/**
 * The highest-norm tokens of one hook point with their text context (the token highlighted).
 * Not responsible for fetching.
 */
import type { ExtractionSample } from "../types";

/** The norms of one column, all with the same decimals: four significant digits of the largest
 * (an attention sink's 22,677, 154.3 above 147.0; it read "154.3" above "147"), with
 * separators, not `toPrecision`'s "2.268e+4"; exponents, for the whole column, only where the
 * digits would be lost (largest |x| >= 1e6 or < 1e-2). */
export function formatNorms(norms: number[]): string[] {
  const largest = Math.max(0, ...norms.filter(Number.isFinite).map(Math.abs)); // NaN: no say
  if (largest !== 0 && (largest >= 1e6 || largest < 1e-2)) {
    return norms.map((n) => n.toExponential(3));
  }
  const whole = largest === 0 ? 1 : Math.floor(Math.log10(largest)) + 1; // digits before the point
  const decimals = Math.max(0, 4 - whole);
  return norms.map((n) =>
    n.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals }),
  );
}

/** One norm on its own, as `formatNorms` gives a column of one. */
export function formatNorm(norm: number): string {
  const [text] = formatNorms([norm]);
  return text ?? String(norm);
}

export function TopTokensTable({ samples }: { samples: ExtractionSample[] }) {
  if (samples.length === 0) return <p className="muted">No tokens recorded.</p>;
  const norms = formatNorms(samples.map((s) => s.norm));
  return (
    <table className="top-tokens">
      <thead>
        <tr>
          <th>norm</th>
          <th>sequence</th>
          <th>position</th>
          <th>context</th>
        </tr>
      </thead>
      <tbody>
        {samples.map((s, i) => (
          <tr key={s.row}>
            <td className="num">{norms[i]}</td>
            <td className="num">{s.sequence}</td>
            <td className="num">{s.position}</td>
            <td className="top-tokens__context">
              <span className="muted">{s.before}</span>
              <mark title={`token id ${s.token_id}`}>{s.token}</mark>
              <span className="muted">{s.after}</span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
