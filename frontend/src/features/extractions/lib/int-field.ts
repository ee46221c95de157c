/**
 * Reads a positive whole number typed into a form field: "2,048", "2_048" and "2 048" are 2048
 * (digit separators), an empty field is "use the default" (`value: null`), and anything else
 * (0, negatives, fractions, text) is an `error` to show beside the field, never a silent guess.
 * Not responsible for the default itself (the caller applies it).
 */

export type IntField = { value: number | null; error: string | null };

const GROUPED_DIGITS = /^\d+(?:[,_ ]\d+)*$/;

export function parsePositiveInt(text: string): IntField {
  const trimmed = text.trim();
  if (trimmed === "") return { value: null, error: null };
  if (!GROUPED_DIGITS.test(trimmed)) {
    return { value: null, error: "must be a whole number of at least 1" };
  }
  const value = Number(trimmed.replace(/[,_ ]/g, ""));
  if (!Number.isSafeInteger(value)) return { value: null, error: "is too large" };
  if (value < 1) return { value: null, error: "must be at least 1" };
  return { value, error: null };
}

/** Two requests are the same when they hold the same values, whatever their keys' order. */
export function sameRequest(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) =>
          x < y ? -1 : x > y ? 1 : 0))
      : v);
}
