import { QueryClient } from "@tanstack/react-query";
import { refreshListsForJob } from "./job-list-freshness";

describe("refreshListsForJob", () => {
  it.each(["model_import", "dataset_import", "tokenize", "extract"])(
    "test_a_%s_job_starting_or_ending_refreshes_the_demo_buttons_watch", (kind) => {
      // the demo button asks whether a step of the demo runs elsewhere (`interpstudio demo`):
      // each of its four steps' jobs must ask again, not only the extraction's
      const queryClient = new QueryClient();
      const key = ["extractions", "demo-underway"];
      queryClient.setQueryData(key, null);
      refreshListsForJob(queryClient, { id: 7, kind, state: "running" });
      expect(queryClient.getQueryState(key)?.isInvalidated).toBe(true);
      queryClient.setQueryData(key, null);
      refreshListsForJob(queryClient, { id: 7, kind, state: "running" });  // progress only
      expect(queryClient.getQueryState(key)?.isInvalidated).toBe(false);
    });
});
