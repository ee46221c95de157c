import { act, screen } from "@testing-library/react";
import { makeJob } from "@/test/job-factory";
import { renderWithProviders } from "@/test/render";
import { JobRow } from "./job-row";

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
});
