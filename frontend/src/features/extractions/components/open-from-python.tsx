/**
 * "Open from Python" on a complete extraction's results page: where the store and its statistics
 * are on disk and the lines that open them (`interpstudio.ml.open_activations`, the same lines
 * the CLI prints), with a copy button. Not responsible for the reader (`ml/store_reader.py`).
 */
import { useState } from "react";
import { Button } from "@/components/ui/button";
import { PathText } from "@/components/ui/path-text";
import type { Extraction } from "../types";

/** A Python string literal for any path (a JSON string is one: same quotes and escapes). */
const py = (text: string) => JSON.stringify(text);

export function pythonSnippet(storePath: string, hook: string): string {
  return [
    "from interpstudio.ml import open_activations",
    `acts = open_activations(${py(storePath)})`,
    `x = acts[${py(hook)}][:1000]   # (rows, d) numpy, memory-mapped from the shards`,
    "acts.tokens[:1000]   # token_id, sequence, position of each row",
    `acts.stats["hooks"][${py(hook)}]   # the statistics (stats.json)`,
  ].join("\n");
}

export function OpenFromPython({ extraction, hook }: { extraction: Extraction; hook: string }) {
  const [copied, setCopied] = useState(false);
  const storePath = extraction.store_abs_path;
  if (!storePath || !hook) return null;
  const snippet = pythonSnippet(storePath, hook);
  return (
    <div className="open-from-python" data-testid="open-from-python">
      <h2>Open from Python</h2>
      <p className="muted">
        Store: <PathText path={storePath} /> (statistics in <code>stats.json</code> there)
      </p>
      <pre><code>{snippet}</code></pre>
      <Button size="sm" onClick={() => {
        void navigator.clipboard?.writeText(snippet).then(() => setCopied(true));
      }}>
        {copied ? "Copied" : "Copy"}
      </Button>
    </div>
  );
}
