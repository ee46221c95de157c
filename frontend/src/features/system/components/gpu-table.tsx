/**
 * GPUs: name, memory used/total with a bar, utilisation and its recent history.
 * Not responsible for collecting the numbers (the server does, from NVML when available).
 */
import type { GpuStatus, SystemStatus } from "@/api/types";
import { ProgressBar } from "@/components/ui/progress-bar";
import { Sparkline } from "@/components/ui/sparkline";
import { formatBytes, formatPercent } from "@/lib/format";
import { METRICS_HISTORY_SIZE } from "../stores/metrics-history-store";

function utilisationHistory(samples: readonly SystemStatus[], index: number): number[] {
  return samples.flatMap((sample) => {
    const value = sample.gpus.find((gpu) => gpu.index === index)?.utilization_percent;
    return value === null || value === undefined ? [] : [value];
  });
}

export function GpuTable({
  gpus,
  samples,
}: {
  gpus: readonly GpuStatus[];
  samples: readonly SystemStatus[];
}) {
  if (gpus.length === 0) {
    return <p className="muted">No GPU detected: models and extractions run on the CPU.</p>;
  }
  return (
    <table className="table" aria-label="GPUs">
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">Name</th>
          <th scope="col">Memory</th>
          <th scope="col">Utilisation</th>
          <th scope="col">History</th>
        </tr>
      </thead>
      <tbody>
        {gpus.map((gpu) => (
          <tr key={gpu.index}>
            <td className="num">{gpu.index}</td>
            <td>{gpu.name}</td>
            <td className="cell-progress">
              <ProgressBar
                value={gpu.memory_total > 0 ? gpu.memory_used / gpu.memory_total : null}
                label={`GPU ${gpu.index} memory`}
              />
              <span className="num">
                {formatBytes(gpu.memory_used)} / {formatBytes(gpu.memory_total)}
              </span>
            </td>
            <td className="num">
              {gpu.utilization_percent === null ? "n/a" : formatPercent(gpu.utilization_percent)}
            </td>
            <td>
              <Sparkline
                values={utilisationHistory(samples, gpu.index)}
                min={0}
                max={100}
                capacity={METRICS_HISTORY_SIZE}
                label={`GPU ${gpu.index} utilisation history`}
              />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
