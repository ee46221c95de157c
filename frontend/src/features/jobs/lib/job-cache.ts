/**
 * Keeps the TanStack Query cache of jobs current from pushed jobs (WebSocket events and mutation
 * responses), so tables and detail views update without refetching or polling.
 *
 * `updateJobList` is the pure rule for one cached page; `applyJobUpdate` applies it to every cached
 * page and the detail entry. Not responsible for receiving events (the app's live-update wiring).
 */
import type { QueryClient, QueryKey } from "@tanstack/react-query";
import type { Job, JobList } from "@/api/types";
import { type JobListFilters, jobKeys } from "../api/job-keys";

export function jobMatchesFilters(job: Job, filters: JobListFilters): boolean {
  if (filters.states.length > 0 && !filters.states.includes(job.state)) return false;
  return !filters.kind || job.kind === filters.kind;
}

function isOlderThan(candidate: Job, current: Job): boolean {
  return Date.parse(candidate.updated_at) < Date.parse(current.updated_at);
}

/** Marker for "this page shifted in a way only the server can say": refetch when next shown. */
export const PAGE_SHIFTED = "page-shifted" as const;

/**
 * The page after `job` changed: replaced in place, removed if it no longer matches the filters,
 * inserted (newest first, by id) if it now matches and belongs on this page.
 */
export function updateJobList(
  page: JobList,
  job: Job,
  filters: JobListFilters,
): JobList | typeof PAGE_SHIFTED {
  const index = page.items.findIndex((item) => item.id === job.id);
  const matches = jobMatchesFilters(job, filters);
  if (index >= 0) {
    const current = page.items[index] as Job;
    if (isOlderThan(job, current)) return page; // an out-of-order event
    if (matches) return { ...page, items: page.items.with(index, job) };
    return {
      items: page.items.filter((item) => item.id !== job.id),
      total: Math.max(0, page.total - 1),
    };
  }
  if (!matches) return page;
  const newestId = page.items[0]?.id ?? Number.POSITIVE_INFINITY;
  const oldestId = page.items.at(-1)?.id ?? Number.NEGATIVE_INFINITY;
  const pageIsFull = page.items.length >= filters.limit;
  const belongsHere =
    (filters.offset === 0 && job.id > oldestId) ||
    (job.id < newestId && job.id > oldestId) ||
    (!pageIsFull && job.id < oldestId);
  if (!belongsHere) return PAGE_SHIFTED;
  const items = [...page.items, job].sort((a, b) => b.id - a.id).slice(0, filters.limit);
  return { items, total: page.total + 1 };
}

function listFilters(key: QueryKey): JobListFilters | null {
  const filters = key[2];
  return filters && typeof filters === "object" ? (filters as JobListFilters) : null;
}

export function applyJobUpdate(queryClient: QueryClient, job: Job): void {
  queryClient.setQueryData<Job>(jobKeys.detail(job.id), (current) =>
    current && isOlderThan(job, current) ? current : job,
  );
  for (const [key, page] of queryClient.getQueriesData<JobList>({ queryKey: jobKeys.lists() })) {
    const filters = listFilters(key);
    if (!page || !filters) continue;
    const next = updateJobList(page, job, filters);
    if (next === PAGE_SHIFTED) {
      void queryClient.invalidateQueries({ queryKey: key, exact: true, refetchType: "none" });
    } else if (next !== page) {
      queryClient.setQueryData(key, next);
    }
  }
}

/**
 * The server's snapshot of active jobs, sent on every (re)connect. Jobs that finished while we
 * were disconnected are not in it, so cached pages are refetched once (not polled).
 */
export function applyJobSnapshot(queryClient: QueryClient, jobs: readonly Job[]): void {
  for (const job of jobs) applyJobUpdate(queryClient, job);
  void queryClient.invalidateQueries({ queryKey: jobKeys.all });
}

export function removeJobFromCache(queryClient: QueryClient, id: number): void {
  queryClient.removeQueries({ queryKey: jobKeys.detail(id), exact: true });
  for (const [key, page] of queryClient.getQueriesData<JobList>({ queryKey: jobKeys.lists() })) {
    if (!page?.items.some((item) => item.id === id)) continue;
    queryClient.setQueryData<JobList>(key, {
      items: page.items.filter((item) => item.id !== id),
      total: Math.max(0, page.total - 1),
    });
  }
}
