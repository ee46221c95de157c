/**
 * The jobs table for one page of jobs, with a clear empty state.
 * Not responsible for filters or pagination (see `jobs-page.tsx`).
 */
import type { Job } from "@/api/types";
import { JobRow } from "./job-row";

const COLUMNS = [
  "ID",
  "Kind",
  "State",
  "Stage",
  "Progress",
  "Actions",  // before the wide columns: visible at a laptop's width without scrolling
  "Rate",
  "ETA",
  "Created",
  "Started",
  "Finished",
  "Message",
] as const;

export function JobsTable({ jobs, filtered }: { jobs: readonly Job[]; filtered: boolean }) {
  return (
    <div className="table-scroll">
      <table className="table" aria-label="Jobs">
        <thead>
          <tr>
            {COLUMNS.map((column) => (
              <th key={column} scope="col">
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <JobRow key={job.id} job={job} />
          ))}
          {jobs.length === 0 && (
            <tr>
              <td className="table__empty" colSpan={COLUMNS.length}>
                {filtered
                  ? "No jobs match these filters."
                  : "No jobs yet. Run a selftest to check that the worker is alive."}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
