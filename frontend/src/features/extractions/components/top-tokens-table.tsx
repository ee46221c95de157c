/**
 * The highest-norm tokens of one hook point with their text context (the token highlighted).
 * Not responsible for fetching.
 */
import type { ExtractionSample } from "../types";

/** Four significant digits with separators: an attention sink's 22,677, not `toPrecision`'s
 * "2.268e+4"; exponents only where the digits would be lost (|x| >= 1e6 or < 1e-2). */
export function formatNorm(norm: number): string {
  const size = Math.abs(norm);
  if (size !== 0 && (size >= 1e6 || size < 1e-2)) return norm.toExponential(3);
  return Number(norm.toPrecision(4)).toLocaleString("en-US", { maximumFractionDigits: 6 });
}

export function TopTokensTable({ samples }: { samples: ExtractionSample[] }) {
  if (samples.length === 0) return <p className="muted">No tokens recorded.</p>;
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
        {samples.map((s) => (
          <tr key={s.row}>
            <td className="num">{formatNorm(s.norm)}</td>
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
