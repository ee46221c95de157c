/**
 * The highest-norm tokens of one hook point with their text context (the token highlighted).
 * Not responsible for fetching.
 */
import type { ExtractionSample } from "../types";

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
            <td className="num">{s.norm.toPrecision(4)}</td>
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
