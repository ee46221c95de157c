/**
 * `GET /jobs/{id}`: one job with params, result and error.
 * Not responsible for live updates (see `lib/job-cache.ts`).
 */
import { queryOptions, useQuery } from "@tanstack/react-query";
import type { Job } from "@/api/types";
import { apiRequest } from "@/lib/api-client";
import { jobKeys } from "./job-keys";

export function getJob(id: number, signal?: AbortSignal): Promise<Job> {
  return apiRequest<Job>(`/jobs/${id}`, { signal });
}

export function jobQueryOptions(id: number) {
  return queryOptions({
    queryKey: jobKeys.detail(id),
    queryFn: ({ signal }) => getJob(id, signal),
  });
}

export function useJob(id: number) {
  return useQuery(jobQueryOptions(id));
}
