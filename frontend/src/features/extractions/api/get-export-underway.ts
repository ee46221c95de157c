/**
 * The `extraction_export` job of one extraction that is queued or running, if any: `GET /jobs`
 * filtered by kind and state, matched on the job's `params.extraction_id` (the list has no
 * filter by target; few exports run at a time, the server's own `export_underway` check reads
 * them the same way). The export box follows it from the moment the results page opens.
 * Not responsible for following the job once found (`@/lib/live-job`).
 */
import { queryOptions, useQuery } from "@tanstack/react-query";
import type { Job, JobList } from "@/api/types";
import { apiRequest } from "@/lib/api-client";
import { extractionKeys } from "./extraction-keys";

export async function getExportUnderway(id: number, signal?: AbortSignal): Promise<Job | null> {
  const jobs = await apiRequest<JobList>("/jobs", {
    query: { kind: ["extraction_export"], state: ["queued", "running"], limit: 500 },
    signal,
  });
  return jobs.items.find((job) => Number(job.params?.extraction_id) === id) ?? null;
}

export function exportUnderwayQueryOptions(id: number) {
  return queryOptions({
    queryKey: [...extractionKeys.detail(id), "export-underway"] as const,
    queryFn: ({ signal }) => getExportUnderway(id, signal),
    // read when the page opens; a refocus that found the followed job over would drop it (and
    // the result it shows): the live job cache follows it from then on
    refetchOnWindowFocus: false,
  });
}

export function useExportUnderway(id: number) {
  return useQuery(exportUnderwayQueryOptions(id));
}
