/**
 * What the preflight found: commit, files and bytes, parameters, layers, memory per precision,
 * disk needed vs free, gating. Not responsible for starting the download.
 */
import { Badge } from "@/components/ui/badge";
import { formatBytes, formatNumber } from "@/lib/format";
import type { ModelPreflight } from "../types";

export function PreflightSummary({ preflight }: { preflight: ModelPreflight }) {
  return (
    <div className="preflight" aria-label="Preflight summary">
      <div>
        <strong>{preflight.repo_id}</strong> @ <code>{preflight.commit_sha.slice(0, 12)}</code>{" "}
        <Badge tone="info">{preflight.model_type}</Badge>{" "}
        {preflight.gated && <Badge tone="warning">gated</Badge>}{" "}
        {preflight.private && <Badge tone="warning">private</Badge>}
      </div>
      <div>
        {formatNumber(preflight.parameter_count)} parameters · {preflight.n_layers ?? "?"} layers
        · d_model {preflight.d_model ?? "?"} · vocab {formatNumber(preflight.vocab_size)}
      </div>
      <div>
        {preflight.files.length} files, {formatBytes(preflight.total_bytes)} · disk needs{" "}
        {formatBytes(preflight.disk_needed_bytes)} of {formatBytes(preflight.disk_free_bytes)} free
        {preflight.quantized_cache_bytes > 0 &&
          ` (incl. ${formatBytes(preflight.quantized_cache_bytes)} of quantized layers kept)`}
      </div>
      <table>
        <tbody>
          <tr>
            <td className="muted">memory</td>
            {Object.entries(preflight.memory_estimates).map(([precision, bytes]) => (
              <td key={precision} className="num">
                {precision} {formatBytes(bytes)}
              </td>
            ))}
          </tr>
        </tbody>
      </table>
      {preflight.skipped_files.length > 0 && (
        <div className="muted">not downloaded: {preflight.skipped_files.join(", ")}</div>
      )}
    </div>
  );
}
