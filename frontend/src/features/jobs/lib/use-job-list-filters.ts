/**
 * The jobs table's filters and page, kept in the URL (`?state=running&state=queued&kind=x&page=2`)
 * so a reload or a shared link shows the same view. Not responsible for fetching.
 */
import { useCallback, useMemo } from "react";
import { useSearchParams } from "react-router";
import { JOB_STATES, type JobState } from "@/api/types";
import { DEFAULT_PAGE_SIZE, type JobListFilters } from "../api/job-keys";

export type JobListView = {
  filters: JobListFilters;
  page: number;
  setStates: (states: JobState[]) => void;
  setKind: (kind: string | null) => void;
  setPage: (page: number) => void;
  clear: () => void;
};

function isJobState(value: string): value is JobState {
  return (JOB_STATES as readonly string[]).includes(value);
}

export function useJobListFilters(pageSize: number = DEFAULT_PAGE_SIZE): JobListView {
  const [params, setParams] = useSearchParams();
  const statesKey = params.getAll("state").filter(isJobState).sort().join(",");
  const kind = params.get("kind") || null;
  const page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);

  const filters = useMemo<JobListFilters>(
    () => ({
      states: statesKey ? (statesKey.split(",") as JobState[]) : [],
      kind,
      limit: pageSize,
      offset: (page - 1) * pageSize,
    }),
    [statesKey, kind, page, pageSize],
  );

  const update = useCallback(
    (change: (next: URLSearchParams) => void) =>
      setParams(
        (current) => {
          const next = new URLSearchParams(current);
          change(next);
          return next;
        },
        { replace: true },
      ),
    [setParams],
  );

  return {
    filters,
    page,
    setStates: (states) =>
      update((next) => {
        next.delete("state");
        for (const state of states) next.append("state", state);
        next.delete("page");
      }),
    setKind: (value) =>
      update((next) => {
        if (value) next.set("kind", value);
        else next.delete("kind");
        next.delete("page");
      }),
    setPage: (value) =>
      update((next) => {
        if (value > 1) next.set("page", String(value));
        else next.delete("page");
      }),
    clear: () =>
      update((next) => {
        for (const name of ["state", "kind", "page"]) next.delete(name);
      }),
  };
}
