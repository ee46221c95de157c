/**
 * `<PathText path=... />`: a file path in `<code>` that wraps after a `/` (a `<wbr>` after each),
 * not inside a folder's name. `word-break: break-all` cut "/root/.local/share/interpstudio/
 * extractions/12/store" as ".../extracti" + "ons/12/store" in a narrow column. A name longer than
 * the column still breaks (`overflow-wrap: anywhere`). Copying the text gives the path unchanged.
 * Not responsible for shortening or linking a path.
 */
import { Fragment } from "react";

export function PathText({ path, testId }: { path: string; testId?: string }) {
  const parts = path.split("/");
  return (
    <code className="path" data-testid={testId}>
      {parts.map((part, i) => (
        <Fragment key={i}>
          {part}
          {i < parts.length - 1 && <>/<wbr /></>}
        </Fragment>
      ))}
    </code>
  );
}
