/**
 * ImportSkipped: the files a local folder import left out (the model's `info.import_skipped`,
 * at most 100 names, and `import_skipped_count`): files below the folder's top level, other
 * formats, and a second weight format (the reason in brackets). One line when short; when long
 * a collapsed list whose summary names the first few. Not responsible for deciding what an import
 * takes (the server's `ml/local_import.py`).
 */

const INLINE = 3;

type SkippedInfo = { import_skipped?: string[]; import_skipped_count?: number };

export function ImportSkipped({ info }: { info: Record<string, unknown> }) {
  const { import_skipped: names = [], import_skipped_count: count = names.length } =
    info as SkippedInfo;
  if (!count) return null;
  const label = `${count.toLocaleString("en-US")} file${count === 1 ? "" : "s"} left out`;
  const title = "A folder import reads the folder's top level only, as transformers does, and "
    + "one weight format, as a hub download does";
  if (names.length <= INLINE && count === names.length) {
    return (
      <div className="model-card__skipped" data-testid="import-skipped" title={title}>
        {label}: {names.join(", ")}
      </div>
    );
  }
  const unlisted = count - names.length;
  return (
    <details className="model-card__skipped" data-testid="import-skipped" title={title}>
      <summary>{label}: {names.slice(0, INLINE).join(", ")}, …</summary>
      <ul>
        {names.map((name) => <li key={name}>{name}</li>)}
      </ul>
      {unlisted > 0 && <div>and {unlisted.toLocaleString("en-US")} more, not listed</div>}
    </details>
  );
}
