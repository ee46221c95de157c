/**
 * The TanStack Query client factory: server state lives here, kept fresh by WebSocket pushes.
 *
 * Because job and system changes arrive over the WebSocket, queries do not refetch on focus or on
 * an interval (no polling loop). Not responsible for applying events (each feature owns that).
 */
import { QueryClient } from "@tanstack/react-query";
import { ApiError } from "@/lib/api-client";

function shouldRetry(failureCount: number, error: unknown): boolean {
  // A 4xx will not change by asking again; network errors and 5xx get two more tries.
  if (error instanceof ApiError && error.status >= 400 && error.status < 500) return false;
  return failureCount < 2;
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 60_000,
        refetchOnWindowFocus: false,
        retry: shouldRetry,
      },
      mutations: { retry: false },
    },
  });
}
