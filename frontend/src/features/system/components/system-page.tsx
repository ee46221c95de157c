/**
 * The System page: CPU, memory, data-dir disk and GPUs of the host the API process runs on (named:
 * with several API processes on several machines, a user must see whose metrics these are), live
 * from `system.metrics` events, with sparklines of the last ~60 samples. Not responsible for
 * receiving events.
 */
import { ErrorMessage } from "@/components/ui/error-message";
import { PathText } from "@/components/ui/path-text";
import { formatBytes, formatFullTimestamp, formatPercent } from "@/lib/format";
import { useSystem } from "../api/get-system";
import { useMetricsHistoryStore } from "../stores/metrics-history-store";
import { GpuTable } from "./gpu-table";
import { MetricCard } from "./metric-card";

export function SystemPage() {
  const system = useSystem();
  const samples = useMetricsHistoryStore((s) => s.samples);
  const current = system.data;

  return (
    <section className="page">
      <header className="page__header">
        <h1>System</h1>
        {current && (
          <span className="muted num">
            host <strong data-testid="system-host">{current.host}</strong> · sample{" "}
            {formatFullTimestamp(current.timestamp)}
          </span>
        )}
      </header>
      {system.error && <ErrorMessage error={system.error} title="Could not load system status:" />}
      {system.isPending && <p className="muted">Loading system status…</p>}
      {current && (
        <>
          <div className="metric-grid">
            <MetricCard
              title="CPU"
              testId="cpu-percent"
              value={formatPercent(current.cpu.percent)}
              detail={`${current.cpu.count} logical cores`}
              history={samples.map((s) => s.cpu.percent)}
            />
            <MetricCard
              title="Memory"
              testId="memory-percent"
              value={formatPercent(current.memory.percent)}
              detail={`${formatBytes(current.memory.used)} used of ${formatBytes(
                current.memory.total,
              )} · ${formatBytes(current.memory.available)} available`}
              history={samples.map((s) => s.memory.percent)}
            />
            <MetricCard
              title="Data disk"
              testId="disk-percent"
              value={formatPercent(current.disk.percent)}
              detail={
                <>
                  {formatBytes(current.disk.free)} free · {formatBytes(current.disk.used)} used
                  <br />
                  <PathText path={current.disk.path} />
                </>
              }
              history={samples.map((s) => s.disk.percent)}
            />
          </div>
          <h2 className="section-title">GPUs</h2>
          <GpuTable gpus={current.gpus} samples={samples} />
        </>
      )}
    </section>
  );
}
