/**
 * `useLiveJob(id)`: one job, kept current by the WebSocket without polling.
 *
 * The app's live-update wiring writes every pushed job into the query cache under
 * `["jobs", "detail", id]` (the jobs feature's detail key); this hook reads that entry, fetching
 * `GET /jobs/{id}` once when nothing is cached yet. Features that start jobs (datasets, models)
 * use it to show progress. Not responsible for receiving events (see `app/live-updates.ts`).
 */
import { useQuery } from "@tanstack/react-query";
import type { Job } from "@/api/types";
import { apiRequest } from "@/lib/api-client";

export const liveJobKey = (jobId: number) => ["jobs", "detail", jobId] as const;

export const FINISHED_JOB_STATES: ReadonlySet<string> = new Set([
  "succeeded",
  "failed",
  "cancelled",
  "interrupted",
]);

export function useLiveJob(jobId: number | null | undefined, initial?: Job | null) {
  return useQuery({
    queryKey: liveJobKey(jobId ?? 0),
    queryFn: ({ signal }) => apiRequest<Job>(`/jobs/${jobId}`, { signal }),
    enabled: jobId !== null && jobId !== undefined,
    initialData: initial ?? undefined,
    staleTime: Number.POSITIVE_INFINITY,
  });
}
