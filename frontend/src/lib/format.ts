/**
 * Number, size, duration and time formatting for dense, monospace tables.
 *
 * Fixed to the `en-US` locale so columns line up and tests are deterministic. Not responsible for
 * layout or colour; every function returns plain text and "—" for missing values.
 */

export const MISSING = "—";

const BYTE_UNITS = ["B", "kB", "MB", "GB", "TB", "PB"] as const;
const BYTE_UNIT_NAMES = new Set(["b", "byte", "bytes"]);

function isFiniteNumber(value: number | null | undefined): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** True when a job's `unit` counts bytes (so quantities print as kB/MB/...). */
export function isByteUnit(unit: string | null | undefined): boolean {
  return unit != null && BYTE_UNIT_NAMES.has(unit.toLowerCase());
}

/** 1500 -> "1.50 kB"; decimal units (what the server's job messages, the CLI and the Hub use: the
 * UI's facts read "816 MiB" beside a progress line's "0.856 GB" for the same bytes), three
 * significant digits after rounding (999,999 -> "1.00 MB", not "1000 kB"). The server's job
 * messages say sizes with its copy of this rule (`core/units.py`'s `format_bytes`); the two are
 * tested on the same figures. */
export function formatBytes(bytes: number | null | undefined): string {
  if (!isFiniteNumber(bytes)) return MISSING;
  let value = Math.abs(bytes);
  let index = 0;
  while (value >= 1000 && index < BYTE_UNITS.length - 1) {
    value /= 1000;
    index += 1;
  }
  let digits = index === 0 ? 0 : significantDecimals(value);
  while (index > 0) {  // rounding may reach the next digit (9.999 -> 10.0) or unit (999.9 -> 1.00)
    const rounded = Number(value.toFixed(digits));
    if (rounded >= 1000 && index < BYTE_UNITS.length - 1) {
      value = rounded / 1000;
      index += 1;
    } else if (significantDecimals(rounded) !== digits) {
      value = rounded;
    } else {
      break;
    }
    digits = significantDecimals(value);
  }
  const sign = bytes < 0 ? "-" : "";
  return `${sign}${value.toFixed(digits)} ${BYTE_UNITS[index]}`;
}

/** Decimals that leave three significant digits: 1.23, 12.3, 123. */
function significantDecimals(value: number): number {
  return value >= 100 ? 0 : value >= 10 ? 1 : 2;
}

const integerFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const fractionFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
const compactFormat = new Intl.NumberFormat("en-US", {
  notation: "compact",
  maximumFractionDigits: 2,
});

/** 1234 -> "1,234"; 2.5 -> "2.5"; 12_345_678 -> "12.35M". */
export function formatNumber(value: number | null | undefined): string {
  if (!isFiniteNumber(value)) return MISSING;
  if (Math.abs(value) >= 1e6) return compactFormat.format(value);
  return Number.isInteger(value) ? integerFormat.format(value) : fractionFormat.format(value);
}

/** A count with its noun: (1, "batch", "batches") -> "1 batch"; (8, "batch", "batches") -> "8 batches"
 * ("1 batches" read as a slip); the plural defaults to the noun + "s". */
export function formatCount(value: number | null | undefined, one: string, many = `${one}s`): string {
  return `${formatNumber(value)} ${value === 1 ? one : many}`;
}

/** Every digit, with separators, however large: 4110336 -> "4,110,336" (never "4.11M"). */
export function formatExactInteger(value: number | null | undefined): string {
  if (!isFiniteNumber(value)) return MISSING;
  return integerFormat.format(value);
}

/** A count in a job's unit: bytes as sizes, anything else as a number with the unit appended. */
export function formatQuantity(value: number | null | undefined, unit: string | null): string {
  if (!isFiniteNumber(value)) return MISSING;
  if (isByteUnit(unit)) return formatBytes(value);
  return unit ? `${formatNumber(value)} ${unit}` : formatNumber(value);
}

/** "12 / 40 it", "1.5 MiB / 3.00 MiB"; "12 it" when the total is unknown; "40 it in all" when
 * only the total is known (a stage before its first count: "? / 40 it" read as a broken count). */
export function formatDoneOfTotal(
  done: number | null | undefined,
  total: number | null | undefined,
  unit: string | null,
): string {
  if (!isFiniteNumber(done)) return isFiniteNumber(total) ? `${formatQuantity(total, unit)} in all` : "";
  if (!isFiniteNumber(total)) return formatQuantity(done, unit);
  if (isByteUnit(unit)) return `${formatBytes(done)} / ${formatBytes(total)}`;
  const suffix = unit ? ` ${unit}` : "";
  return `${formatNumber(done)} / ${formatNumber(total)}${suffix}`;
}

/** Units per second: "3.2 it/s", "12.0 MiB/s". */
export function formatRate(rate: number | null | undefined, unit: string | null): string {
  if (!isFiniteNumber(rate)) return MISSING;
  if (isByteUnit(unit)) return `${formatBytes(rate)}/s`;
  const value = Math.abs(rate) >= 100 ? formatNumber(Math.round(rate)) : rate.toFixed(rate >= 10 ? 1 : 2);
  return `${value} ${unit ?? "units"}/s`;
}

/** Seconds remaining: "<1 s", "42 s", "3 m 05 s", "2 h 07 m", "3 d 04 h". */
export function formatEta(seconds: number | null | undefined): string {
  if (!isFiniteNumber(seconds) || seconds < 0) return MISSING;
  if (seconds < 1) return "<1 s";
  const total = Math.round(seconds);
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3_600);
  const minutes = Math.floor((total % 3_600) / 60);
  const secs = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (days > 0) return `${days} d ${pad(hours)} h`;
  if (hours > 0) return `${hours} h ${pad(minutes)} m`;
  if (minutes > 0) return `${minutes} m ${pad(secs)} s`;
  return `${secs} s`;
}

/** 0.4213 -> "42.1 %" (a 0..1 fraction). */
export function formatFraction(fraction: number | null | undefined): string {
  if (!isFiniteNumber(fraction)) return MISSING;
  return `${(fraction * 100).toFixed(1)} %`;
}

/** 42.13 -> "42.1 %" (already a percentage). */
export function formatPercent(percent: number | null | undefined): string {
  if (!isFiniteNumber(percent)) return MISSING;
  return `${percent.toFixed(1)} %`;
}

/** The precision a model runs at, and the one asked for where it differs (a fallback: "fp32
 * (asked fp16)"); "fp32 (asked fp32)" said nothing twice. */
export function formatPrecision(used: string, requested: string | null | undefined): string {
  return requested && requested !== used ? `${used} (asked ${requested})` : used;
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** Local time: "14:03:07" when on `now`'s day, otherwise "2026-03-01 14:03". */
export function formatTimestamp(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return MISSING;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return MISSING;
  const time = `${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
  if (date.toDateString() === now.toDateString()) return `${time}:${pad2(date.getSeconds())}`;
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())} ${time}`;
}

/** Full local date and time with seconds, for detail views and tooltips. */
export function formatFullTimestamp(iso: string | null | undefined): string {
  if (!iso) return MISSING;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return MISSING;
  return (
    `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())} ` +
    `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`
  );
}
