import { act, screen } from "@testing-library/react";
import { makeJob } from "@/test/job-factory";
import { renderWithProviders } from "@/test/render";
import { JobRow } from "./job-row";
import { JobsTable } from "./jobs-table";

describe("JobRow", () => {
  it("test_a_running_jobs_eta_counts_down_between_events_to_any_moment", () => {
    vi.useFakeTimers();
    try {
      const job = makeJob({ id: 3, state: "running", stage: "extract", done: 10, total: 40,
        unit: "tokens", progress: 0.25, rate: 2, eta_s: 15 });
      renderWithProviders(<table><tbody><JobRow job={job} /></tbody></table>);
      const row = screen.getByTestId("job-row-3");
      expect(row).toHaveTextContent("15 s");
      act(() => { vi.advanceTimersByTime(5000); });
      expect(row).toHaveTextContent("10 s");  // it sat at 15 s until the next event
      act(() => { vi.advanceTimersByTime(60_000); });
      expect(row).toHaveTextContent("any moment");
    } finally {
      vi.useRealTimers();
    }
  });

  it("test_a_narrow_table_may_leave_out_only_the_least_telling_columns", () => {
    // the CSS leaves out the cells carrying a step (data-drop) as the table's box narrows (an
    // 800 px window scrolled sideways; e2e/jobs-and-system.spec.ts measures it in Chromium):
    // the kind, state, progress and actions never carry one, and the stage folds under the kind
    const job = makeJob({ id: 4, kind: "dataset_import", state: "running", stage: "read",
      done: 1, total: 4, unit: "rows", rate: 1, message: "reading" });
    renderWithProviders(<JobsTable jobs={[job]} filtered={false} />);
    const headers = screen.getAllByRole("columnheader");
    const kept = headers.filter((th) => !th.hasAttribute("data-drop")).map((th) => th.textContent);
    expect(kept).toEqual(["ID", "Kind", "State", "Progress", "Actions"]);
    const cells = [...screen.getByTestId("job-row-4").querySelectorAll("td")];
    // each cell goes with its column's header
    expect(cells.map((td) => td.getAttribute("data-drop")))
      .toEqual(headers.map((th) => th.getAttribute("data-drop")));
    expect(cells[1]).toHaveTextContent(/^dataset_importread$/);  // the stage, under the kind
    expect(screen.getByTestId("jobs-table-note")).toHaveTextContent(/open a job/);
  });
});
