import { render, screen } from "@testing-library/react";
import { makeJob } from "@/test/job-factory";
import { JobProgress, jobProgressFraction } from "./job-progress";

describe("JobProgress", () => {
  it("test_shows_fraction_and_counts_for_running_job", () => {
    const job = makeJob({ id: 7, state: "running", progress: 0.25, done: 10, total: 40, unit: "passes" });
    render(<JobProgress job={job} />);
    const bar = screen.getByRole("progressbar", { name: "Job 7 progress" });
    expect(bar).toHaveAttribute("aria-valuenow", "25");
    expect(screen.getByTestId("job-progress-counts")).toHaveTextContent("10 / 40 passes");
    expect(screen.getByTestId("job-progress-percent")).toHaveTextContent("25.0 %");
    // never "25.0" and "%" on two lines (the Jobs table's Progress column at 800 px)
    expect(screen.getByTestId("job-progress-percent")).toHaveClass("nowrap");
  });

  it("test_derives_fraction_from_done_and_total_when_progress_missing", () => {
    const job = makeJob({ state: "running", progress: null, done: 3, total: 4, unit: "files" });
    expect(jobProgressFraction(job)).toBe(0.75);
    render(<JobProgress job={job} />);
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "75");
  });

  it("test_is_indeterminate_when_running_without_measure", () => {
    render(<JobProgress job={makeJob({ state: "running" })} />);
    const bar = screen.getByRole("progressbar");
    expect(bar).not.toHaveAttribute("aria-valuenow");
    expect(bar).toHaveAttribute("aria-valuetext", "unknown");
  });

  it("test_a_running_job_that_counted_nothing_yet_says_starting_without_a_percentage", () => {
    // found by a browser walk: an extraction's job read "0 / 16,384 tokens · 0.0 %" for the
    // 10+ s of its first batch on a CPU, as if stuck; no rate yet means nothing measured
    const job = makeJob({ id: 8, kind: "extract", state: "running", stage: "extract", done: 0,
      total: 16384, unit: "tokens", progress: 0, rate: null });
    const view = render(<JobProgress job={job} />);
    expect(screen.getByTestId("job-progress-counts")).toHaveTextContent(
      "starting · 16,384 tokens in all");
    expect(screen.getByTestId("job-progress-percent")).toHaveTextContent("");
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuetext", "unknown");
    view.unmount();
    // the first batch's report: counted, with a rate
    render(<JobProgress job={{ ...job, done: 512, progress: 512 / 16384, rate: 40 }} />);
    expect(screen.getByTestId("job-progress-counts")).toHaveTextContent("512 / 16,384 tokens");
    expect(screen.getByTestId("job-progress-percent")).toHaveTextContent("3.1 %");
  });

  it("test_clamps_out_of_range_fraction", () => {
    render(<JobProgress job={makeJob({ state: "running", progress: 1.7 })} />);
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");
  });

  it("test_shows_full_bar_for_succeeded_job_without_progress", () => {
    render(<JobProgress job={makeJob({ state: "succeeded" })} />);
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");
  });

  it("test_shows_byte_counts_as_sizes", () => {
    const job = makeJob({ state: "running", progress: 0.5, done: 512 * 1024 ** 2, total: 1024 ** 3, unit: "bytes" });
    render(<JobProgress job={job} />);
    expect(screen.getByTestId("job-progress-counts")).toHaveTextContent("537 MB / 1.07 GB");
  });
});
