/**
 * One metric: a label, the current value in large monospace digits, a detail line and a
 * sparkline of recent values. Not responsible for choosing the values.
 */
import type { ReactNode } from "react";
import { Sparkline } from "@/components/ui/sparkline";
import { METRICS_HISTORY_SIZE } from "../stores/metrics-history-store";

type MetricCardProps = {
  title: string;
  value: ReactNode;
  detail?: ReactNode;
  history: readonly number[];
  testId?: string;
};

export function MetricCard({ title, value, detail, history, testId }: MetricCardProps) {
  return (
    <article className="metric-card" aria-label={title}>
      <h2 className="metric-card__title">{title}</h2>
      <div className="metric-card__value num" data-testid={testId}>
        {value}
      </div>
      {detail && <div className="metric-card__detail num">{detail}</div>}
      <Sparkline
        values={history}
        min={0}
        max={100}
        capacity={METRICS_HISTORY_SIZE}
        label={`${title}, last ${history.length} samples`}
      />
    </article>
  );
}
