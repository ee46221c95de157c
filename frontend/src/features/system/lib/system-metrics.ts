/**
 * Applies a pushed `system.metrics` sample: the current value in the query cache, and one more
 * point in the sparkline history. Not responsible for receiving it (the app's live wiring).
 */
import type { QueryClient } from "@tanstack/react-query";
import type { SystemStatus } from "@/api/types";
import { systemKeys } from "../api/get-system";
import { useMetricsHistoryStore } from "../stores/metrics-history-store";

export function applySystemMetrics(queryClient: QueryClient, system: SystemStatus): void {
  queryClient.setQueryData(systemKeys.current, system);
  useMetricsHistoryStore.getState().record(system);
}
