/**
 * `GET /health`: server status, version and database engine.
 * Not responsible for liveness polling (the WebSocket indicator shows connectivity).
 */
import { queryOptions, useQuery } from "@tanstack/react-query";
import type { Health } from "@/api/types";
import { apiRequest } from "@/lib/api-client";

export function getHealth(signal?: AbortSignal): Promise<Health> {
  return apiRequest<Health>("/health", { signal });
}

export function healthQueryOptions() {
  return queryOptions({
    queryKey: ["health"] as const,
    queryFn: ({ signal }) => getHealth(signal),
    staleTime: Number.POSITIVE_INFINITY,
  });
}

export function useHealth() {
  return useQuery(healthQueryOptions());
}
