/**
 * `GET /jobs`: one page of jobs, newest first, filtered by state(s) and kind.
 * Not responsible for live updates (see `lib/job-cache.ts`).
 */
import { keepPreviousData, queryOptions, useQuery } from "@tanstack/react-query";
import type { JobList } from "@/api/types";
import { apiRequest } from "@/lib/api-client";
import { type JobListFilters, jobKeys } from "./job-keys";

export function getJobs(filters: JobListFilters, signal?: AbortSignal): Promise<JobList> {
  return apiRequest<JobList>("/jobs", {
    query: {
      state: filters.states,
      kind: filters.kind,
      limit: filters.limit,
      offset: filters.offset,
    },
    signal,
  });
}

export function jobsQueryOptions(filters: JobListFilters) {
  return queryOptions({
    queryKey: jobKeys.list(filters),
    queryFn: ({ signal }) => getJobs(filters, signal),
    placeholderData: keepPreviousData,
  });
}

export function useJobs(filters: JobListFilters) {
  return useQuery(jobsQueryOptions(filters));
}
