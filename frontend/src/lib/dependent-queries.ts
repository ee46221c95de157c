/**
 * After a delete that can take other rows with it (a dataset, a model or a tokenization; a forced
 * delete removes their tokenizations, extractions and jobs too), every cached list that may hold
 * one of those rows is marked stale: the lists on screen refetch now, the others when next shown.
 *
 * Features never import each other, so the resources are named by their query keys' prefixes (the
 * API's resource names, as `live-job.ts` names the jobs'). Not responsible for the deleted row's
 * own queries (its feature removes those before calling this, so they are not asked for again).
 */
import type { QueryClient } from "@tanstack/react-query";

/** Everything of these resources, but of jobs only the lists: a job's own entry is kept live by
 * the WebSocket, and a deleted job's would only 404 if asked again. */
export const DEPENDENT_QUERY_PREFIXES: readonly (readonly string[])[] = [
  ["datasets"],
  ["tokenizations"],
  ["models"],
  ["extractions"],
  ["jobs", "list"],
];

export function invalidateDependentQueries(queryClient: QueryClient): Promise<void> {
  return Promise.all(
    DEPENDENT_QUERY_PREFIXES.map((prefix) => queryClient.invalidateQueries({ queryKey: prefix })),
  ).then(() => undefined);
}
