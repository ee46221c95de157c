/**
 * The TanStack Query client factory: server state lives here, kept fresh by WebSocket pushes.
 *
 * Because job and system changes arrive over the WebSocket, queries do not refetch on focus or on
 * an interval (no polling loop). Lists are the exception on mount and on focus: a row created or
 * deleted by another process (the CLI, a worker on another machine without the Redis bus) sends
 * no event to this server's WebSocket, so a list refetches whenever a page showing it is opened or
 * the tab showing it is back in front (while shown, the WebSocket's job events, `job.deleted`
 * included for every job a delete removes, mark lists stale: `job-list-freshness.ts`). Not
 * responsible for applying events (each
 * feature owns that).
 */
import { type Query, QueryClient } from "@tanstack/react-query";
import { ApiError } from "@/lib/api-client";

function shouldRetry(failureCount: number, error: unknown): boolean {
  // A 4xx will not change by asking again; network errors and 5xx get two more tries.
  if (error instanceof ApiError && error.status >= 400 && error.status < 500) return false;
  return failureCount < 2;
}

/** Key prefixes of the list queries (each feature's `lists()` key, the extraction form's pickers
 * and a dataset's tokenizations); a query whose key starts with one is refetched on every mount. */
export const LIST_QUERY_PREFIXES: readonly (readonly string[])[] = [
  ["models", "list"],
  ["datasets", "list"],
  ["datasets", "tokenizations"],
  ["extractions", "list"],
  ["extractions", "pickers", "models"],
  ["extractions", "pickers", "datasets"],
  ["extractions", "pickers", "tokenizations"],
  ["jobs", "list"],
];

export function isListQueryKey(key: readonly unknown[]): boolean {
  return LIST_QUERY_PREFIXES.some((prefix) => prefix.every((part, i) => key[i] === part));
}

function refetchOnMount(query: Query): boolean | "always" {
  return isListQueryKey(query.queryKey) ? "always" : true;
}

function refetchOnWindowFocus(query: Query): boolean | "always" {
  return isListQueryKey(query.queryKey) ? "always" : false;
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 60_000,
        refetchOnWindowFocus,
        refetchOnMount,
        retry: shouldRetry,
      },
      mutations: { retry: false },
    },
  });
}
