/**
 * A horizontal progress bar for a 0..1 fraction; indeterminate when the fraction is unknown:
 * moving stripes across the whole track (global.css), never a partial fill that reads as a
 * level. Exposes `role="progressbar"` with `aria-valuenow` in percent for tests and screen
 * readers. Not responsible for the text around it (callers format done/total, rate, ETA).
 */
import { formatFraction } from "@/lib/format";

type ProgressBarProps = {
  /** 0..1, or null when the total is unknown. */
  value: number | null;
  label: string;
  tone?: "active" | "success" | "danger" | "muted";
};

export function ProgressBar({ value, label, tone = "active" }: ProgressBarProps) {
  const known = value !== null && Number.isFinite(value);
  const clamped = known ? Math.min(1, Math.max(0, value)) : 0;
  const percent = Math.round(clamped * 1000) / 10;
  return (
    <div
      className={`progress progress--${tone}${known ? "" : " progress--indeterminate"}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={known ? percent : undefined}
      aria-valuetext={known ? formatFraction(clamped) : "unknown"}
    >
      {/* keyed: the unknown bar's full-width stripes are replaced, not shrunk by the width
          transition to the first known fraction (a full bar emptying read as going back) */}
      <div key={known ? "known" : "unknown"} className="progress__fill"
        style={{ width: known ? `${percent}%` : undefined }} />
    </div>
  );
}
