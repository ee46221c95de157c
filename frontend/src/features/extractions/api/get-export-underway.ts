/**
 * The `extraction_export` job of one extraction that is queued or running, if any: `GET /jobs`
 * filtered by kind, state and `extraction_id` (the server's own `export_underway` check asks
 * the same). The export box follows it from the moment the results page opens.
 * Not responsible for following the job once found (`@/lib/live-job`).
 */
import { queryOptions, useQuery } from "@tanstack/react-query";
import type { Job, JobList } from "@/api/types";
import { apiRequest } from "@/lib/api-client";
import { extractionKeys } from "./extraction-keys";

export async function getExportUnderway(id: number, signal?: AbortSignal): Promise<Job | null> {
  const jobs = await apiRequest<JobList>("/jobs", {
    query: { kind: ["extraction_export"], state: ["queued", "running"], extraction_id: id,
      limit: 1 },
    signal,
  });
  return jobs.items[0] ?? null;
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
