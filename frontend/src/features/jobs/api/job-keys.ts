/**
 * Query keys for jobs, shared by every jobs API operation and by the cache updater.
 * Not responsible for fetching.
 */
import type { JobState } from "@/api/types";

export type JobListFilters = {
  states: JobState[];
  kind: string | null;
  limit: number;
  offset: number;
};

export const DEFAULT_PAGE_SIZE = 50;

export const jobKeys = {
  all: ["jobs"] as const,
  lists: () => [...jobKeys.all, "list"] as const,
  list: (filters: JobListFilters) => [...jobKeys.lists(), filters] as const,
  details: () => [...jobKeys.all, "detail"] as const,
  detail: (id: number) => [...jobKeys.details(), id] as const,
};
