import { screen } from "@testing-library/react";
import { makeJob } from "@/test/job-factory";
import { createTestQueryClient, renderWithProviders } from "@/test/render";
import { extractionKeys } from "../api/extraction-keys";
import { makeExtraction, makeSamples, makeStats } from "../lib/extraction-factory";
import type { Extraction } from "../types";
import { ExtractionResults } from "./extraction-results";

function seededClient() {
  const queryClient = createTestQueryClient();
  for (const group of ["non_bos", "bos"] as const) {
    queryClient.setQueryData(extractionKeys.stats(7, group), makeStats(group));
    queryClient.setQueryData(extractionKeys.samples(7, group), makeSamples(group));
  }
  return queryClient;
}

const complete = (overrides: Partial<Extraction> = {}) => makeExtraction({ status: "complete",
  job: makeJob({ id: 70, kind: "extract", state: "succeeded" }),
  counts: { rows: 4000, bytes: 1_000_000, tokens_per_s: 900 }, ...overrides });

describe("extraction results", () => {
  it("test_a_retry_running_or_failed_hides_the_old_runs_figures", () => {
    for (const [status, state] of [["running", "running"], ["failed", "failed"]] as const) {
      const queryClient = seededClient();  // the complete run's results are still cached
      const { unmount } = renderWithProviders(<ExtractionResults extraction={makeExtraction({
        status, job: makeJob({ id: 70, kind: "extract", state }) })} />, { queryClient });
      expect(screen.queryByRole("img", { name: "Mean L2 norm per layer" })).toBeNull();
      expect(screen.queryAllByTestId("histogram-bar")).toHaveLength(0);
      expect(screen.queryByTestId("row-group-rows")).toBeNull();
      expect(screen.queryByText("fox")).toBeNull();
      // and they are dropped, so the next complete run does not show them until its own arrive
      expect(queryClient.getQueryData(extractionKeys.stats(7, "non_bos"))).toBeUndefined();
      expect(queryClient.getQueryData(extractionKeys.samples(7, "non_bos"))).toBeUndefined();
      unmount();
    }
  });

  it("test_a_complete_extraction_shows_its_figures", () => {
    renderWithProviders(<ExtractionResults extraction={complete()} />,
      { queryClient: seededClient() });
    expect(screen.getByRole("img", { name: "Mean L2 norm per layer" })).toBeInTheDocument();
    expect(screen.getByTestId("row-group-rows")).toHaveTextContent("3,990 rows");
  });
});
