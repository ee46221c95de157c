/**
 * The preflight shown before the user confirms: exact bytes, free disk, RAM/VRAM, the calibrated
 * speed, the projected time and which bound dominates, and the server's notes on what the plan
 * does that a user may not expect. Not responsible for running it.
 */
import { Badge } from "@/components/ui/badge";
import { formatBytes, formatCount, formatExactInteger, formatEta, formatNumber } from "@/lib/format";
import type { ExtractionPreflight } from "../types";

export function PreflightPanel({ report }: { report: ExtractionPreflight }) {
  const { plan, bytes, memory, projected, calibration } = report;
  const model = report.model as Record<string, unknown>;
  return (
    <div className="preflight" data-testid="extraction-preflight">
      <table>
        <tbody>
          <tr>
            <td>hook points</td>
            <td>{report.hook_points.length} stored as {report.dtype}</td>
          </tr>
          <tr>
            <td>tokens → rows</td>
            <td>
              {formatNumber(plan.tokens)} → {formatNumber(plan.rows)} in{" "}
              {formatCount(plan.sequences, "sequence")}, {formatCount(plan.batches, "batch", "batches")}
            </td>
          </tr>
          <tr>
            <td>to write</td>
            <td data-testid="preflight-bytes">
              {formatBytes(bytes.shard_files)} ({formatExactInteger(bytes.shard_files)} bytes
              exactly) in{" "}
              {formatCount(report.shards, "shard")}, + ~{formatBytes(bytes.stats_estimate)} statistics
            </td>
          </tr>
          <tr>
            <td>free disk</td>
            <td>
              {formatBytes(report.free_disk_bytes)}{" "}
              {report.disk_ok ? <Badge tone="success">fits</Badge>
                : <Badge tone="danger">not enough disk</Badge>}
            </td>
          </tr>
          <tr>
            <td>memory</td>
            <td>
              RAM {formatBytes(memory.ram_needed)}
              {memory.vram_needed ? `, VRAM ${formatBytes(memory.vram_needed)}` : ""} (model{" "}
              {formatBytes(memory.model)} at {String(model.precision_used ?? "?")})
            </td>
          </tr>
          {calibration && (
            <tr>
              <td>calibration</td>
              <td>
                {formatNumber(Math.round(Number(calibration.tokens_per_s)))} tokens/s on{" "}
                {String(calibration.device)} (one batch of {String(calibration.batch_size)})
              </td>
            </tr>
          )}
          {report.disk_write_bytes_per_s !== null && (
            <tr>
              <td>disk write</td>
              <td>{formatBytes(report.disk_write_bytes_per_s)}/s</td>
            </tr>
          )}
          <tr>
            <td>projected</td>
            <td data-testid="preflight-projected">
              {formatEta(projected.total_s)} · bound: <strong>{projected.bound ?? "?"}</strong>
            </td>
          </tr>
        </tbody>
      </table>
      {(report.notes ?? []).map((note) => (
        <p key={note} className="preflight-note" data-testid="preflight-note">
          <Badge tone="warning">note</Badge> {note}
        </p>
      ))}
    </div>
  );
}
