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

  it("test_a_cancelled_jobs_message_is_not_an_error_and_says_cancelled_once", () => {
    // the server stores a cancel as error_code "cancelled", error_message "cancelled by user";
    // the row read "cancelled cancelled by user" in the error colour, for an ordinary cancel
    const job = makeJob({ id: 5, kind: "extract", state: "cancelled", stage: "extract",
      error_code: "cancelled", error_message: "cancelled by user" });
    renderWithProviders(<table><tbody><JobRow job={job} /></tbody></table>);
    const cells = [...screen.getByTestId("job-row-5").querySelectorAll("td")];
    const message = cells[cells.length - 1]!;
    expect(message.textContent?.trim()).toBe("cancelled by user");
    expect(message).not.toHaveClass("cell-message--error");
  });

  it("test_a_cancelled_jobs_row_shows_what_it_kept", () => {
    const job = makeJob({ id: 7, kind: "extract", state: "cancelled", stage: "extract",
      error_code: "cancelled", error_message: "cancelled by user",
      message: "kept 2 whole shards; resume continues from there" });
    renderWithProviders(<table><tbody><JobRow job={job} /></tbody></table>);
    const cells = [...screen.getByTestId("job-row-7").querySelectorAll("td")];
    expect(cells[cells.length - 1]).toHaveTextContent("kept 2 whole shards");
  });

  it("test_a_failed_jobs_message_keeps_its_code_as_an_error", () => {
    const job = makeJob({ id: 6, kind: "extract", state: "failed", stage: "extract",
      error_code: "out_of_memory", error_message: "the batch did not fit" });
    renderWithProviders(<table><tbody><JobRow job={job} /></tbody></table>);
    const cells = [...screen.getByTestId("job-row-6").querySelectorAll("td")];
    const message = cells[cells.length - 1]!;
    expect(message).toHaveTextContent("out_of_memory the batch did not fit");
    expect(message).toHaveClass("cell-message--error");
  });
});
