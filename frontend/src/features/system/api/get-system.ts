/**
 * `GET /system`: CPU, memory, data-dir disk and GPUs right now. Later samples arrive as
 * `system.metrics` events (see `lib/system-metrics.ts`). Not responsible for history.
 */
import { queryOptions, useQuery } from "@tanstack/react-query";
import type { SystemStatus } from "@/api/types";
import { apiRequest } from "@/lib/api-client";
import { useMetricsHistoryStore } from "../stores/metrics-history-store";

export const systemKeys = { current: ["system", "current"] as const };

export function getSystem(signal?: AbortSignal): Promise<SystemStatus> {
  return apiRequest<SystemStatus>("/system", { signal });
}

export function systemQueryOptions() {
  return queryOptions({
    queryKey: systemKeys.current,
    queryFn: async ({ signal }) => {
      const system = await getSystem(signal);
      useMetricsHistoryStore.getState().record(system);
      return system;
    },
  });
}

export function useSystem() {
  return useQuery(systemQueryOptions());
}
