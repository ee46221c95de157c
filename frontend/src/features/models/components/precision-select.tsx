/**
 * The precision picker shared by the download and import forms. Not responsible for checking
 * that a precision fits memory (the job steps down and says why).
 */
import { PRECISIONS, type Precision } from "../types";

export function PrecisionSelect({
  value,
  onChange,
}: {
  value: Precision;
  onChange: (precision: Precision) => void;
}) {
  return (
    <label>
      <span>Precision</span>
      <select value={value} onChange={(e) => onChange(e.target.value as Precision)}>
        {PRECISIONS.map((precision) => (
          <option key={precision} value={precision}>
            {precision}
          </option>
        ))}
      </select>
    </label>
  );
}
