/**
 * Pretty-printed JSON in a scrollable monospace block; "—" for null/empty.
 * Not responsible for editing.
 */
import { MISSING } from "@/lib/format";

export function JsonView({ value, label }: { value: unknown; label: string }) {
  const empty =
    value === null ||
    value === undefined ||
    (typeof value === "object" && Object.keys(value as object).length === 0);
  if (empty) return <span className="muted">{MISSING}</span>;
  return (
    <pre className="json-view" aria-label={label}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}
