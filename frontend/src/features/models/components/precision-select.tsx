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

/** Every precision but fp32 (the reference), for "measure drift at every precision". */
export const DRIFT_PRECISIONS: Precision[] = PRECISIONS.filter((p) => p !== "fp32");

export function DriftCheckbox({
  checked,
  onChange,
}: {
  checked: boolean;
  onChange: (checked: boolean) => void;
}) {
  return (
    <label title="Loads the model once per precision after the download (slower for big models)">
      <span>
        <input type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />{" "}
        drift at every precision
      </span>
    </label>
  );
}
