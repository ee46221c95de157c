/**
 * The Jobs page: selftest launcher, filters, the live jobs table, pagination, and the detail
 * drawer (nested route). Not responsible for receiving live events (the app wires the WebSocket
 * into the query cache).
 */
import { useMemo } from "react";
import { Outlet } from "react-router";
import { ErrorMessage } from "@/components/ui/error-message";
import { Pagination } from "@/components/ui/pagination";
import { useJobs } from "../api/get-jobs";
import { useJobListFilters } from "../lib/use-job-list-filters";
import { JobFilters } from "./job-filters";
import { JobsTable } from "./jobs-table";
import { SelftestForm } from "./selftest-form";

export function JobsPage() {
  const view = useJobListFilters();
  const { filters } = view;
  const jobs = useJobs(filters);
  const items = jobs.data?.items ?? [];
  const knownKinds = useMemo(() => [...new Set(items.map((job) => job.kind))].sort(), [items]);

  return (
    <section className="page">
      <header className="page__header">
        <h1>Jobs</h1>
        <SelftestForm />
      </header>
      <JobFilters
        states={filters.states}
        kind={filters.kind}
        knownKinds={knownKinds}
        onStatesChange={view.setStates}
        onKindChange={view.setKind}
        onClear={view.clear}
      />
      {jobs.error && <ErrorMessage error={jobs.error} title="Could not load jobs:" />}
      {jobs.isPending && <p className="muted">Loading jobs…</p>}
      {jobs.data && (
        <>
          <JobsTable jobs={items} filtered={filters.states.length > 0 || filters.kind !== null} />
          <Pagination
            offset={filters.offset}
            limit={filters.limit}
            total={jobs.data?.total ?? 0}
            onPageChange={view.setPage}
          />
        </>
      )}
      <Outlet />
    </section>
  );
}
