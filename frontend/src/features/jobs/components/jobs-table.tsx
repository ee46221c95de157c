/**
 * The jobs table for one page of jobs, with a clear empty state. It fits its box, as the CLI's
 * fitted tables do: where the box is narrow the least telling columns are left out, in this order
 * as it narrows: the times, then rate and ETA, then the message, then the stage (shown
 * under the kind instead); the id, kind, state, progress and actions always stay. A note under
 * the table says where the rest is (each job's details). The rule is CSS (container queries on
 * `.jobs-table`, styles/global.css); `lib/job-columns.ts` says which column goes at which step.
 * Not responsible for filters or pagination (see `jobs-page.tsx`).
 */
import type { Job } from "@/api/types";
import { JOB_COLUMNS } from "../lib/job-columns";
import { JobRow } from "./job-row";

export function JobsTable({ jobs, filtered }: { jobs: readonly Job[]; filtered: boolean }) {
  return (
    <div className="jobs-table">
      <div className="table-scroll">
        <table className="table" aria-label="Jobs">
          <thead>
            <tr>
              {JOB_COLUMNS.map(({ label, drop }) => (
                <th key={label} scope="col" data-drop={drop}>
                  {label}
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
                <td className="table__empty" colSpan={JOB_COLUMNS.length}>
                  {filtered
                    ? "No jobs match these filters."
                    : "No jobs yet. Run a selftest to check that the worker is alive."}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <p className="muted jobs-table__note" data-testid="jobs-table-note">
        Some columns are left out at this width: open a job (its #id) for its stage, rate, ETA,
        times and message.
      </p>
    </div>
  );
}
