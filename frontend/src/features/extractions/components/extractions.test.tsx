import { act, cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { QueryClientProvider } from "@tanstack/react-query";
import { createMemoryRouter, RouterProvider } from "react-router";
import userEvent from "@testing-library/user-event";
import { renderWithProviders, createTestQueryClient } from "@/test/render";
import { makeJob } from "@/test/job-factory";
import { liveJobKey } from "@/lib/live-job";
import { extractionKeys } from "../api/extraction-keys";
import { exportUnderwayQueryOptions } from "../api/get-export-underway";
import { makeExtraction, makeSamples, makeStats, seedSamples } from "../lib/extraction-factory";
import { ActivationExtractionConfig } from "./extraction-config";
import { ExtractionActions } from "./extraction-actions";
import { ExtractionResults, ExtractionResultsPage, stoppedRunKey } from "./extraction-results";
import { ExtractionsPage } from "./extractions-page";
import { ExtractionRow } from "./extraction-row";

/** The config form with model 1 ("tiny", 3 layers, `model` over that) and dataset 4 ("quotes")
 * chosen, the dataset holding `tokenizations`. */
async function configWithTokenizations(tokenizations: object[], model: object = {}): Promise<void> {
  const queryClient = createTestQueryClient();
  queryClient.setQueryData(extractionKeys.models(), { total: 1, items: [
    { id: 1, name: "tiny", status: "ready", n_layers: 3, precision_used: "fp32", ...model }] });
  queryClient.setQueryData(extractionKeys.datasets(), { total: 1, items: [{ id: 4, name: "quotes", status: "ready" }] });
  queryClient.setQueryData(extractionKeys.tokenizations(4, 1), {
    total: tokenizations.length, items: tokenizations });
  renderWithProviders(<ActivationExtractionConfig />, { queryClient });
  await userEvent.selectOptions(screen.getByLabelText("Model"), "1");
  await userEvent.selectOptions(screen.getByLabelText("Dataset"), "4");
}

/** Every request answered 409 extraction_results_not_ready, its URL recorded in ``urls``. */
function answerNotReady(urls: string[]) {
  return vi.spyOn(globalThis, "fetch").mockImplementation(async (url) => {
    urls.push(String(url));
    return new Response(JSON.stringify({ error: { code: "extraction_results_not_ready",
      message: "extraction 7 has no statistics yet", details: {} } }),
    { status: 409, headers: { "Content-Type": "application/json" } });
  });
}

describe("extractions UI", () => {
  it("test_running_row_shows_live_tokens_rate_eta_gb_written_and_bound", () => {
    const extraction = makeExtraction();
    renderWithProviders(<ExtractionRow extraction={extraction} />);
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "25");
    expect(screen.getByTestId("extraction-progress-counts")).toHaveTextContent("1,000 / 4,000 tokens");
    expect(screen.getByText(/ETA 6 s/)).toBeInTheDocument();
    expect(screen.getByTestId("extraction-message")).toHaveTextContent(/GB written.*bound: compute/);
    expect(screen.getAllByRole("button").map((b) => b.textContent)).toEqual(["Cancel"]);
  });

  it("test_a_stopped_run_says_what_it_kept_on_its_row_and_results_page", () => {
    const kept = "kept 7,767 rows in 1 whole shard · 0.270 GB written; resume to continue from there";
    for (const state of ["cancelled", "failed"] as const) {
      const extraction = makeExtraction({ status: state, job: makeJob({ id: 70, kind: "extract",
        state, done: 9216, total: 31488, unit: "tokens", progress: 0.29, message: kept }) });
      const row = renderWithProviders(<ExtractionRow extraction={extraction} />);
      expect(screen.getByTestId("extraction-kept")).toHaveTextContent(kept);
      expect(screen.queryByText("written")).toBeNull();  // no "written —" beside "0.270 GB written"
      expect(screen.queryByRole("progressbar")).toBeNull();  // it is not running
      row.unmount();
      const page = renderWithProviders(<ExtractionResults extraction={extraction} />);
      expect(screen.getByTestId("extraction-kept")).toHaveTextContent(kept);
      page.unmount();
    }
    const complete = makeExtraction({ status: "complete", counts: { rows: 4000, bytes: 1 },
      job: makeJob({ id: 70, kind: "extract", state: "succeeded", message: "0.1 GB written" }) });
    renderWithProviders(<ExtractionRow extraction={complete} />);
    expect(screen.queryByTestId("extraction-kept")).toBeNull();  // its counts say it
  });

  it("test_a_killed_workers_run_labels_its_running_line_as_the_last_report", () => {
    const running = "0.425 GB captured · 0.270 GB written in whole shards · projected bound: compute";
    const extraction = makeExtraction({ status: "interrupted",
      error_message: "worker process died; resume to continue",
      job: makeJob({ id: 70, kind: "extract", state: "interrupted", done: 6144, total: 8192,
        unit: "tokens", message: running }) });
    renderWithProviders(<ExtractionRow extraction={extraction} />);
    expect(screen.getByTestId("extraction-kept")).toHaveTextContent(
      `Last report before it stopped: ${running}`);
  });

  it("test_a_run_that_failed_before_its_store_labels_its_running_line_as_the_last_report", () => {
    // it failed while checking (no store, so no "kept" line): the running line stood alone
    // above the error, as if it were still checking
    const checking = "checking hook points, tokens and free disk";
    const extraction = makeExtraction({ status: "failed",
      error_message: "tokens.npy is not a token array",
      job: makeJob({ id: 70, kind: "extract", state: "failed", stage: "check",
        message: checking }) });
    renderWithProviders(<ExtractionRow extraction={extraction} />);
    expect(screen.getByTestId("extraction-kept")).toHaveTextContent(
      `Last report before it failed: ${checking}`);
  });

  it("test_a_running_stage_before_its_first_count_says_starting_not_a_question_mark", () => {
    const extraction = makeExtraction({ job: makeJob({ id: 70, kind: "extract", state: "running",
      stage: "extract", done: null, total: 16384, unit: "tokens", progress: null }) });
    renderWithProviders(<ExtractionRow extraction={extraction} />);
    const counts = screen.getByTestId("extraction-progress-counts");
    expect(counts).toHaveTextContent("starting · 16,384 tokens in all");
    expect(counts.textContent).not.toContain("?");
    expect(screen.getByText("extract")).toBeInTheDocument();  // the stage it is in
  });

  it("test_a_run_computing_its_first_batch_says_so_instead_of_a_stuck_zero", () => {
    // found by a browser walk: on a CPU "extract 0 / 16,384 tokens" at 0 % stood for 10+ s
    // until the first batch's report; the engine's first report computes nothing (no rate yet)
    const first = (done: number) => makeExtraction({ job: makeJob({ id: 70, kind: "extract",
      state: "running", stage: "extract", done, total: 16384, unit: "tokens",
      progress: done / 16384, rate: null, eta_s: null }) });
    const fresh = renderWithProviders(<ExtractionRow extraction={first(0)} />);
    const counts = screen.getByTestId("extraction-progress-counts");
    expect(counts).toHaveTextContent("computing the first batch… · 16,384 tokens in all");
    expect(counts.textContent).not.toMatch(/\b0 \//);  // no "0 / 16,384"
    const bar = screen.getByRole("progressbar");  // no percentage, guessed or 0 %
    expect(bar).not.toHaveAttribute("aria-valuenow");
    expect(bar).toHaveAttribute("aria-valuetext", "unknown");
    fresh.unmount();
    // a resume starts from the tokens it kept: those stay drawn and counted, said as kept
    const resumed = renderWithProviders(<ExtractionRow extraction={first(4096)} />);
    expect(screen.getByTestId("extraction-progress-counts")).toHaveTextContent(
      "computing the first batch… · 4,096 / 16,384 tokens kept");
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "25");
    resumed.unmount();
    // the first batch's report brings a rate: the count as usual
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(liveJobKey(70), makeJob({ id: 70, kind: "extract", state: "running",
      stage: "extract", done: 512, total: 16384, unit: "tokens", progress: 512 / 16384,
      rate: 40 }));
    renderWithProviders(<ExtractionRow extraction={first(0)} />, { queryClient });
    expect(screen.getByTestId("extraction-progress-counts")).toHaveTextContent(
      /^512 \/ 16,384 tokens$/);
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "3.1");
  });

  it("test_a_run_not_complete_calls_its_token_count_planned", () => {
    const cancelled = makeExtraction({ status: "cancelled", counts: { tokens_total: 8192 },
      job: makeJob({ id: 70, kind: "extract", state: "cancelled", message: "kept 2,000 rows" }) });
    const view = renderWithProviders(<ExtractionRow extraction={cancelled} />);
    expect(screen.getByText("tokens planned")).toBeInTheDocument();
    expect(screen.getByTestId("extraction-tokens")).toHaveTextContent("8,192");
    view.unmount();
    renderWithProviders(<ExtractionRow extraction={makeExtraction({ status: "complete",
      counts: { tokens_total: 8192, tokens: 8192, bytes: 1 },
      job: makeJob({ id: 70, kind: "extract", state: "succeeded" }) })} />);
    expect(screen.getByText("tokens")).toBeInTheDocument();
    expect(screen.queryByText("tokens planned")).toBeNull();
  });

  it("test_row_follows_the_live_job_from_the_cache", () => {
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(liveJobKey(70), makeJob({ id: 70, kind: "extract", state: "running",
      done: 3000, total: 4000, unit: "tokens", progress: 0.75, rate: 800 }));
    renderWithProviders(<ExtractionRow extraction={makeExtraction()} />, { queryClient });
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "75");
  });

  it("test_the_eta_counts_down_between_progress_events_and_never_below_zero", () => {
    vi.useFakeTimers();
    try {
      const queryClient = createTestQueryClient();
      const event = (eta_s: number, updated_at: string) => makeJob({ id: 70, kind: "extract",
        state: "running", stage: "extract", done: 1000, total: 4000, unit: "tokens",
        progress: 0.25, rate: 500, eta_s, updated_at });
      queryClient.setQueryData(liveJobKey(70), event(6, "2026-01-01T12:00:00Z"));
      renderWithProviders(<ExtractionRow extraction={makeExtraction()} />, { queryClient });
      const eta = () => screen.getByText(/ETA/).textContent;
      expect(eta()).toBe(" · ETA 6 s");
      act(() => { vi.advanceTimersByTime(2000); });
      expect(eta()).toBe(" · ETA 4 s");  // sat at 6 s until the next event
      act(() => { vi.advanceTimersByTime(10_000); });
      expect(eta()).toBe(" · ETA any moment");  // ran out before the next event: not -6 s
      act(() => {  // the next event restarts the count from its own estimate
        queryClient.setQueryData(liveJobKey(70), event(30, "2026-01-01T12:00:20Z"));
        vi.advanceTimersByTime(0);  // the query cache notifies on a timer
      });
      expect(eta()).toBe(" · ETA 30 s");
      act(() => { vi.advanceTimersByTime(3000); });
      expect(eta()).toBe(" · ETA 27 s");
      act(() => {  // an event with the same estimate is still a new start
        queryClient.setQueryData(liveJobKey(70), event(30, "2026-01-01T12:00:40Z"));
        vi.advanceTimersByTime(0);  // the query cache notifies on a timer
      });
      expect(eta()).toBe(" · ETA 30 s");
    } finally {
      vi.useRealTimers();
    }
  });

  it("test_a_resumed_run_in_the_queue_labels_its_last_attempts_count", () => {
    const extraction = makeExtraction({ status: "queued", job: makeJob({ id: 70, kind: "extract",
      state: "queued", stage: "extract", attempt: 2, done: 9216, total: 31488, unit: "tokens",
      progress: 9216 / 31488 }) });
    renderWithProviders(<ExtractionRow extraction={extraction} />);
    expect(screen.getByTestId("extraction-progress-counts")).toHaveTextContent(
      "9,216 / 31,488 tokens reached by the last attempt");
    expect(screen.queryByText("extract")).toBeNull();  // no stage is at work: it waits
    expect(screen.queryByText(/ETA|tokens\/s/)).toBeNull();
  });

  function renderResults(nonBosSamples = makeSamples("non_bos")) {
    const extraction = makeExtraction({ status: "complete",
      job: makeJob({ id: 70, kind: "extract", state: "succeeded" }),
      counts: { rows: 4000, bytes: 1_000_000, tokens_per_s: 900 } });
    const queryClient = createTestQueryClient();
    for (const group of ["non_bos", "bos"] as const) {
      queryClient.setQueryData(extractionKeys.stats(7, group), makeStats(group));
      seedSamples(queryClient, 7, makeSamples(group));
    }
    seedSamples(queryClient, 7, nonBosSamples);
    renderWithProviders(<ExtractionResults extraction={extraction} />, { queryClient });
  }

  it("test_results_page_draws_norm_curve_histogram_and_top_tokens", async () => {
    renderResults();
    const curve = screen.getByRole("img", { name: "Mean L2 norm per layer" });
    expect(within(curve).getByTestId("series-resid_post").querySelectorAll("circle")).toHaveLength(2);
    expect(screen.getAllByTestId("histogram-bar")).toHaveLength(3);
    expect(screen.getByText("fox").tagName).toBe("MARK");
    expect(screen.queryByRole("progressbar")).toBeNull();
    expect(screen.getByRole("button", { name: "Export for SAELens" })).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText("Top tokens hook point"),
      "blocks.0.resid_post");
    expect(screen.getByText("No tokens recorded.")).toBeInTheDocument();
  });

  it("test_results_default_to_rows_past_the_first_position_and_switch_group", async () => {
    renderResults();
    expect(screen.getByLabelText("Row group")).toHaveValue("non_bos");
    expect(screen.getByTestId("row-group-rows")).toHaveTextContent("3,990 rows");
    expect(screen.getAllByTestId("histogram-bar")).toHaveLength(3);
    expect(screen.queryByText("<s>")).toBeNull();
    await userEvent.selectOptions(screen.getByLabelText("Row group"), "bos");
    expect(screen.getByTestId("row-group-rows")).toHaveTextContent("10 rows");
    expect(screen.getAllByTestId("histogram-bar")).toHaveLength(2);
    expect((await screen.findByText("<s>")).tagName).toBe("MARK");
    expect(screen.queryByText("fox")).toBeNull();
  });

  it("test_a_stopped_runs_page_shows_its_partial_stores_figures_marked_as_such", async () => {
    const kept = "kept 2,000 rows in 2 whole shards · 0.070 GB written; resume to continue from there";
    const job = makeJob({ id: 70, kind: "extract", state: "cancelled", done: 2000, total: 8192,
      unit: "tokens", message: kept, finished_at: "2026-01-01T12:05:00Z" });
    const extraction = makeExtraction({ status: "cancelled",
      counts: { tokens_total: 8192, rows_total: 8192, bytes_total: 292_060_800 },
      store_abs_path: "/data/extractions/7/store", job });
    const queryClient = createTestQueryClient();
    queryClient.setQueryData([...extractionKeys.stats(7, "non_bos"), "stopped", stoppedRunKey(job)],
      { ...makeStats("non_bos"), status: "partial", rows: 2000, shards: 2 });
    renderWithProviders(<ExtractionResults extraction={extraction} />, { queryClient });
    // it showed the kept line and nothing else, though the store opens and has statistics
    expect(screen.getByTestId("partial-results")).toHaveTextContent(
      "The figures below are of the 2,000 rows in 2 whole shards the run kept (of 8,192 planned)");
    expect(screen.getByRole("img", { name: "Mean L2 norm per layer" })).toBeInTheDocument();
    expect(screen.getAllByTestId("histogram-bar").length).toBeGreaterThan(0);
    expect(screen.getByTestId("open-from-python")).toHaveTextContent("/data/extractions/7/store");
    // its whole shards export as they are (the server's answer says it is part of the run)
    expect(screen.getByRole("button", { name: "Export for SAELens" })).toBeInTheDocument();
    expect(screen.queryByText(/Highest-norm tokens/)).toBeNull();  // decoded when it completes
    expect(screen.getByTestId("extraction-kept")).toHaveTextContent(kept);
  });

  it("test_a_run_stopped_before_its_first_shard_asks_no_statistics_and_says_how_to_resume", async () => {
    // its store exists (the writer's manifest) without a whole shard: the page asked /stats
    // (409, logged in the browser console) and said nothing about why it showed nothing
    const urls: string[] = [];
    const fetchSpy = answerNotReady(urls);
    const extraction = makeExtraction({ status: "cancelled", job: makeJob({ id: 70,
      kind: "extract", state: "cancelled", message: "kept no rows (stopped before the first "
        + "whole shard); resume starts from the beginning" }),
    store_abs_path: "/data/extractions/7/store", store_empty: true });
    renderWithProviders(<ExtractionResults extraction={extraction} />);
    const note = screen.getByTestId("nothing-stored");
    expect(note).toHaveTextContent("nothing stored yet");
    expect(note).toHaveTextContent("stopped before its first whole shard was written");
    expect(note).toHaveTextContent("Resume (above) starts it from the beginning");
    expect(note).toHaveTextContent("interpstudio jobs resume 70");
    expect(screen.getByRole("button", { name: "Resume" })).toBeInTheDocument();
    await act(async () => { await new Promise((resolve) => setTimeout(resolve, 50)); });
    expect(urls.filter((url) => url.includes("/stats"))).toEqual([]);
    expect(screen.queryByText(/Statistics:/)).toBeNull();
    expect(screen.queryByTestId("partial-results")).toBeNull();
    expect(screen.queryByTestId("open-from-python")).toBeNull();
    expect(screen.queryByRole("button", { name: "Export for SAELens" })).toBeNull();
    fetchSpy.mockRestore();
  });

  it("test_a_stopped_store_without_statistics_says_why_not_as_an_error", async () => {
    // interrupted (its worker killed) after some shards: the store has rows but no stats.json
    const message = "extraction 7 has no statistics yet (it is interrupted); the run stopped "
      + "before finishing: resume it (or retry it) to get them";
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response(
      JSON.stringify({ error: { code: "extraction_results_not_ready", message, details: {} } }),
      { status: 409, headers: { "Content-Type": "application/json" } }));
    const extraction = makeExtraction({ status: "interrupted", job: makeJob({ id: 70,
      kind: "extract", state: "interrupted" }), store_abs_path: "/data/extractions/7/store" });
    renderWithProviders(<ExtractionResults extraction={extraction} />);
    expect(await screen.findByTestId("no-statistics")).toHaveTextContent(message);
    expect(screen.queryByText(/Statistics:/)).toBeNull();
    expect(screen.queryByTestId("nothing-stored")).toBeNull();
    fetchSpy.mockRestore();
  });

  it("test_a_run_that_failed_before_it_had_a_store_asks_for_no_statistics", async () => {
    // a UI tester: a run failed in its check (no store) still asked /extractions/7/stats, and
    // the 409 the server answered was logged in the browser console
    const urls: string[] = [];
    const fetchSpy = answerNotReady(urls);
    const extraction = makeExtraction({ status: "failed", store_abs_path: null,
      error_message: "the tokenization file tokens.npy is damaged",
      job: makeJob({ id: 70, kind: "extract", state: "failed", stage: "check",
        message: "checking hook points, tokens and free disk" }) });
    renderWithProviders(<ExtractionResults extraction={extraction} />);
    expect(await screen.findByText(/tokens\.npy is damaged/)).toBeInTheDocument();
    await act(async () => { await new Promise((resolve) => setTimeout(resolve, 50)); });
    expect(urls.filter((url) => url.includes("/stats"))).toEqual([]);
    expect(screen.queryByText(/Statistics:/)).toBeNull();
    fetchSpy.mockRestore();
  });

  it("test_a_store_with_no_row_past_the_first_position_opens_on_all_rows", async () => {
    // max_tokens 1: one row, at position 0; the default group had 0 rows and no figure
    const oneRow = (group: "non_bos" | "all") => {
      const stats = makeStats(group);
      for (const hook of Object.values(stats.hooks) as { groups: Record<string, { rows: number }> }[]) {
        hook.groups.non_bos = { ...hook.groups.non_bos!, rows: 0 };
        hook.groups.all = { ...hook.groups.all!, rows: 1 };
      }
      return group === "non_bos" ? { ...stats, layer_norms: {} } : stats;
    };
    const extraction = makeExtraction({ status: "complete", counts: { rows: 1, bytes: 1 },
      job: makeJob({ id: 70, kind: "extract", state: "succeeded" }) });
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(extractionKeys.stats(7, "non_bos"), oneRow("non_bos"));
    queryClient.setQueryData(extractionKeys.stats(7, "all"), oneRow("all"));
    seedSamples(queryClient, 7, makeSamples("all"));
    renderWithProviders(<ExtractionResults extraction={extraction} />, { queryClient });
    expect(await screen.findByTestId("row-group-rows")).toHaveTextContent(/^1 row$/);
    expect(screen.getByLabelText("Row group")).toHaveValue("all");
    expect(screen.queryByText("No data to plot.")).toBeNull();
  });

  it("test_results_say_the_positions_and_storage_dtype_and_list_points_in_forward_order", () => {
    const extraction = makeExtraction({ status: "complete", counts: { rows: 139, bytes: 1 },
      spec: { hook_points_expanded: ["blocks.29.resid_pre", "blocks.29.resid_post",
        "blocks.29.mlp_out", "blocks.3.resid_post"],
      positions: "every_k", every_k: 5, dtype: "bfloat16" },
      job: makeJob({ id: 70, kind: "extract", state: "succeeded" }) });
    const sample = makeSamples("non_bos").hooks["blocks.1.resid_post"]!;
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(extractionKeys.stats(7, "non_bos"), makeStats("non_bos"));
    seedSamples(queryClient, 7, { ...makeSamples("non_bos"),
      hooks: { "blocks.29.resid_post": sample, "blocks.29.resid_pre": [],
        "blocks.29.mlp_out": [], "blocks.3.resid_post": [] } });
    renderWithProviders(<ExtractionResults extraction={extraction} />, { queryClient });
    expect(screen.getByTestId("extraction-positions")).toHaveTextContent(
      "every 5th token (positions 4, 9, 14, …)");
    expect(screen.getByText("bfloat16")).toBeInTheDocument();
    const picker = screen.getByLabelText("Top tokens hook point");
    // the deepest point first shown: layer 29's output, not its input (by name, resid_pre)
    expect(picker).toHaveValue("blocks.29.resid_post");
    expect(within(picker).getAllByRole("option").map((o) => o.textContent)).toEqual(
      ["blocks.3.resid_post", "blocks.29.resid_pre", "blocks.29.mlp_out", "blocks.29.resid_post"]);
  });

  it("test_results_page_for_a_non_numeric_id_says_so_without_a_request", () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    const router = createMemoryRouter(
      [{ path: "/extractions/:extractionId", element: <ExtractionResultsPage /> }],
      { initialEntries: ["/extractions/new"] },
    );
    render(
      <QueryClientProvider client={createTestQueryClient()}>
        <RouterProvider router={router} />
      </QueryClientProvider>,
    );
    expect(screen.getByRole("heading", { name: "No such extraction" })).toBeInTheDocument();
    expect(fetchSpy).not.toHaveBeenCalled();
    fetchSpy.mockRestore();
  });

  it("test_samples_without_per_group_rows_say_so_instead_of_an_empty_table", () => {
    // written before samples were kept per row group: the server answers no point for non_bos
    const extraction = makeExtraction({ status: "complete",
      job: makeJob({ id: 70, kind: "extract", state: "succeeded" }) });
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(extractionKeys.stats(7, "non_bos"), makeStats("non_bos"));
    queryClient.setQueryData(extractionKeys.samples(7, "non_bos", "blocks.1.resid_post"),
      { ...makeSamples("non_bos"), hooks: {} });
    renderWithProviders(<ExtractionResults extraction={extraction} />, { queryClient });
    expect(screen.getByText("No highest-norm tokens recorded for these rows.")).toBeInTheDocument();
    expect(screen.queryByText("No tokens recorded.")).toBeNull();
  });

  it("test_the_top_token_table_asks_for_the_one_point_it_shows", async () => {
    // it fetched every point's rows (~1,400 for 90 points) and showed one point's 16
    const urls: string[] = [];
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input) => {
      const url = new URL(String(input), "http://localhost");
      urls.push(`${url.pathname}${url.search}`);
      const samples = makeSamples("non_bos");
      const hook = url.searchParams.get("hook") ?? "";
      return new Response(JSON.stringify({ ...samples, hooks: { [hook]: samples.hooks[hook] } }),
        { status: 200, headers: { "Content-Type": "application/json" } });
    });
    const extraction = makeExtraction({ status: "complete",
      job: makeJob({ id: 70, kind: "extract", state: "succeeded" }) });
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(extractionKeys.stats(7, "non_bos"), makeStats("non_bos"));
    queryClient.setQueryData(exportUnderwayQueryOptions(7).queryKey, null);
    renderWithProviders(<ExtractionResults extraction={extraction} />, { queryClient });
    expect((await screen.findByText("fox")).tagName).toBe("MARK");
    await userEvent.selectOptions(screen.getByLabelText("Top tokens hook point"),
      "blocks.0.resid_post");
    expect(await screen.findByText("No tokens recorded.")).toBeInTheDocument();
    const asked = urls.filter((url) => url.includes("/samples"));
    expect(asked).toEqual([
      "/api/v1/extractions/7/samples?group=non_bos&hook=blocks.1.resid_post",
      "/api/v1/extractions/7/samples?group=non_bos&hook=blocks.0.resid_post"]);
    fetchSpy.mockRestore();
  });

  it("test_config_grid_defaults_to_every_residual_and_start_waits_for_preflight", async () => {
    await configWithTokenizations([
      { id: 9, model_id: 1, status: "ready", counts: { tokens: 1234 },
        policy: { requested: { mode: "pack", max_length: 256 } } },
      { id: 10, model_id: 1, status: "failed", counts: { tokens: 99 } }]);
    const tokenizations = within(screen.getByLabelText("Tokenization")).getAllByRole("option");
    // the policy tells apart a dataset's tokenizations made with one tokenizer
    // and the only ready one this model may use is chosen (it said "choose" beside it,
    // Preflight disabled with no word why)
    expect(tokenizations.map((o) => o.textContent)).toEqual(["#9: 1,234 tokens · pack 256"]);
    expect(screen.getByLabelText("Tokenization")).toHaveValue("9");
    expect(screen.getByRole("button", { name: "Preflight" })).toBeEnabled();
    expect(screen.getByTestId("hook-patterns")).toHaveTextContent("blocks.*.resid_post");
    // columns are named as the hook points are, not "residual" beside "resid_pre"
    expect(screen.getByRole("button", { name: "resid_post" })).toHaveAttribute(
      "title", expect.stringContaining("residual stream leaving the block"));
    expect(screen.queryByRole("button", { name: "residual" })).toBeNull();
    await userEvent.click(screen.getByLabelText("blocks.1.attn_out"));
    expect(screen.getByTestId("hook-patterns")).toHaveTextContent("blocks.1.attn_out");
    expect(screen.getByRole("button", { name: "Start extraction" })).toBeDisabled();
  });

  it("test_a_tokenization_made_with_an_identical_tokenizer_of_another_model_is_offered", async () => {
    // the server lists it for model 1 (usable_with_model: model 2's tokenizer files are the
    // same); the form kept only those with model_id 1, so it said "none for this model"
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(extractionKeys.models(), { total: 2, items: [
      { id: 1, name: "tiny", status: "ready", n_layers: 3, precision_used: "fp32" },
      { id: 2, name: "tiny twin", status: "ready", n_layers: 3, precision_used: "fp32" }] });
    queryClient.setQueryData(extractionKeys.datasets(), { total: 1, items: [{ id: 4, name: "quotes", status: "ready" }] });
    queryClient.setQueryData(extractionKeys.tokenizations(4, 1), { total: 1, items: [
      { id: 9, model_id: 2, status: "ready", counts: { tokens: 1234 },
        policy: { requested: { mode: "pack", max_length: 256 } } }] });
    renderWithProviders(<ActivationExtractionConfig />, { queryClient });
    await userEvent.selectOptions(screen.getByLabelText("Model"), "1");
    await userEvent.selectOptions(screen.getByLabelText("Dataset"), "4");
    expect(within(screen.getByLabelText("Tokenization")).getAllByRole("option")
      .map((o) => o.textContent)).toEqual(["#9: 1,234 tokens · pack 256 · tokenized with tiny twin"]);
    expect(screen.getByLabelText("Tokenization")).toHaveValue("9");
    expect(screen.getByRole("button", { name: "Preflight" })).toBeEnabled();
  });

  it("test_two_tokenizations_for_the_model_are_a_choice_none_is_picked", async () => {
    await configWithTokenizations([
      { id: 9, model_id: 1, status: "ready", counts: { tokens: 1234 },
        policy: { requested: { mode: "pack", max_length: 256 } } },
      { id: 11, model_id: 1, status: "ready", counts: { tokens: 900 },
        policy: { requested: { mode: "truncate", max_length: 64 } } }]);
    expect(screen.getByLabelText("Tokenization")).toHaveValue("");
    expect(screen.getByRole("button", { name: "Preflight" })).toBeDisabled();
    await userEvent.selectOptions(screen.getByLabelText("Tokenization"), "11");
    expect(screen.getByRole("button", { name: "Preflight" })).toBeEnabled();
  });

  it("test_a_tokenization_past_the_models_positions_is_offered_never_picked", async () => {
    // made at 1024 for a 256-position model before such a one was refused: the CLI's --dataset
    // passes over it, and the form picked it as the only one
    const past = { id: 12, model_id: 1, status: "ready", counts: { tokens: 900 },
      policy: { max_length: 1024, requested: { mode: "truncate", max_length: 1024 } } };
    const fitting = { id: 9, model_id: 1, status: "ready", counts: { tokens: 1234 },
      policy: { max_length: 256, requested: { mode: "truncate", max_length: 256 } } };
    await configWithTokenizations([past], { positions: 256 });
    expect(screen.getByLabelText("Tokenization")).toHaveValue("");
    expect(within(screen.getByLabelText("Tokenization")).getAllByRole("option")
      .map((o) => o.textContent)).toEqual(
      ["choose", "#12: 900 tokens · truncate 1024 · past the model's 256 positions"]);
    expect(screen.getByRole("button", { name: "Preflight" })).toBeDisabled();
    await userEvent.selectOptions(screen.getByLabelText("Tokenization"), "12");  // as asked
    expect(screen.getByRole("button", { name: "Preflight" })).toBeEnabled();
    cleanup();
    await configWithTokenizations([past, fitting], { positions: 256 });
    expect(screen.getByLabelText("Tokenization")).toHaveValue("9");
  });

  it("test_config_grid_disables_points_the_model_cannot_capture_and_says_why", async () => {
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(extractionKeys.models(), { total: 1, items: [
      { id: 2, name: "tiny-moe", status: "ready", n_layers: 2, precision_used: "fp32" }] });
    queryClient.setQueryData(extractionKeys.datasets(), { total: 0, items: [] });
    const reason = "block 1 has a mixture-of-experts MLP; use mlp_out";
    queryClient.setQueryData(extractionKeys.hookPoints(2), { layers: [0, 1].map((index) => ({
      index, hook_points: [
        { name: `blocks.${index}.mlp_act`, kind: "mlp_act", unavailable: index === 1 ? reason : null },
        { name: `blocks.${index}.mlp_out`, kind: "mlp_out", unavailable: null }] })) });
    renderWithProviders(<ActivationExtractionConfig />, { queryClient });
    await userEvent.selectOptions(screen.getByLabelText("Model"), "2");
    const moe = screen.getByLabelText("blocks.1.mlp_act");
    expect(moe).toBeDisabled();
    expect(moe.closest("td")).toHaveAttribute("title", reason);
    expect(screen.getByLabelText("blocks.0.mlp_act")).toBeEnabled();
    expect(screen.getByRole("button", { name: "mlp_out" })).toBeEnabled();
    await userEvent.click(screen.getByRole("button", { name: "mlp_act" }));
    expect(screen.getByTestId("hook-patterns")).toHaveTextContent("blocks.0.mlp_act");
    expect(screen.getByTestId("hook-patterns")).not.toHaveTextContent("blocks.*.mlp_act");
  });

  it("test_a_kind_no_layer_has_is_a_disabled_header_saying_why", async () => {
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(extractionKeys.models(), { total: 1, items: [
      { id: 3, name: "all-moe", status: "ready", n_layers: 2, precision_used: "fp32" }] });
    queryClient.setQueryData(extractionKeys.datasets(), { total: 0, items: [] });
    queryClient.setQueryData(extractionKeys.hookPoints(3), { layers: [0, 1].map((index) => ({
      index, hook_points: [{ name: `blocks.${index}.mlp_act`, kind: "mlp_act",
                             unavailable: `block ${index} is mixture-of-experts` }] })) });
    renderWithProviders(<ActivationExtractionConfig />, { queryClient });
    await userEvent.selectOptions(screen.getByLabelText("Model"), "3");
    const header = screen.getByRole("button", { name: "mlp_act" });
    expect(header).toBeDisabled();
    expect(header).toHaveAttribute("title", "block 0 is mixture-of-experts");
  });
  function seedConfig() {
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(extractionKeys.models(), { total: 1, items: [
      { id: 1, name: "tiny", status: "ready", n_layers: 2, precision_used: "fp32" }] });
    queryClient.setQueryData(extractionKeys.datasets(), { total: 1, items: [{ id: 4, name: "quotes", status: "ready" }] });
    queryClient.setQueryData(extractionKeys.tokenizations(4, 1), { total: 1, items: [
      { id: 9, model_id: 1, status: "ready", counts: { tokens: 1234 } }] });
    return queryClient;
  }

  async function fillConfig() {
    await userEvent.selectOptions(screen.getByLabelText("Model"), "1");
    await userEvent.selectOptions(screen.getByLabelText("Dataset"), "4");
    await userEvent.selectOptions(screen.getByLabelText("Tokenization"), "9");
  }

  const preflightReport = {
    bytes: { shard_files: 4096, stats_estimate: 100 }, calibration: null, disk_ok: true,
    disk_write_bytes_per_s: null, dtype: "float16", free_disk_bytes: 10 ** 10,
    hook_points: ["blocks.0.resid_post", "blocks.1.resid_post"],
    memory: { model: 1000, ram_needed: 2000, vram_needed: null }, model: { precision_used: "fp32" },
    plan: { tokens: 100, rows: 100, sequences: 2, batches: 1 },
    projected: { bound: "compute", compute_s: 1, disk_s: 0.1, total_s: 1 },
    shard_rows: 100, shards: 1, widths: { "blocks.0.resid_post": 8 },
  };

  /** The form filled and preflighted; the create request it sends next waits for `answer`. */
  async function preflightThenHoldTheCreate() {
    const answer = { current: (_response: Response) => {} };
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (url) => {
      if (String(url).endsWith("/extractions/preflight")) return new Response(
        JSON.stringify(preflightReport), { status: 200, headers: { "Content-Type": "application/json" } });
      return new Promise<Response>((resolve) => { answer.current = resolve; });  // POST /extractions
    });
    renderWithProviders(<ActivationExtractionConfig />, { queryClient: seedConfig() });
    await fillConfig();
    await userEvent.click(screen.getByRole("button", { name: "Preflight" }));
    await screen.findByTestId("extraction-preflight");
    return { fetchSpy, answer };
  }

  function mockPreflight() {
    return vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response(
      JSON.stringify(preflightReport),
      { status: 200, headers: { "Content-Type": "application/json" } }));
  }

  it("test_a_pending_preflight_says_where_it_is_measured", async () => {
    for (const runsOn of ["worker", "api"] as const) {
      const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(
        () => new Promise<Response>(() => {}));  // the POST waits (for a worker, or the model)
      const queryClient = seedConfig();
      queryClient.setQueryData(extractionKeys.preflightPlacement("auto"),
        { device: "auto", runs_on: runsOn, wait_s: runsOn === "worker" ? 120 : null });
      const view = renderWithProviders(<ActivationExtractionConfig />, { queryClient });
      await fillConfig();
      expect(screen.queryByTestId("preflight-on-worker")).toBeNull();  // nothing asked yet
      await userEvent.click(screen.getByRole("button", { name: "Preflight" }));
      expect(screen.getByRole("button", { name: "Measuring…" })).toBeDisabled();
      if (runsOn === "worker") {
        expect(screen.getByTestId("preflight-on-worker")).toHaveTextContent(
          /runs on a job worker.*waits for one to be free \(up to 2 m 00 s/);
        expect(screen.queryByTestId("preflight-on-server")).toBeNull();
      } else {
        expect(screen.queryByTestId("preflight-on-worker")).toBeNull();  // measured right here
        // ... and says so: a walk-through saw only "Measuring…" for 25-50 s
        expect(screen.getByTestId("preflight-on-server")).toHaveTextContent(
          /server loads the model and times one batch/);
      }
      view.unmount();
      fetchSpy.mockRestore();
    }
  });

  it("test_a_preflight_no_worker_took_reads_as_that_and_start_does_not_wait_for_it", async () => {
    const message = "no job worker took the preflight (job 5) within 120 s, so it was withdrawn: "
      + "the workers are busy or none is running (start `interpstudio worker` on a machine with "
      + "device 'auto'). Starting the extraction does not need it: its job measures the run when "
      + "a worker starts it";
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (url, init) => {
      if (init?.method === "POST" && String(url).endsWith("/extractions/preflight")) {
        return new Response(JSON.stringify({ error: { code: "preflight_not_taken", message,
          details: { job_id: 5, wait_s: 120, device: "auto" } } }),
        { status: 503, headers: { "Content-Type": "application/json" } });
      }
      if (init?.method === "POST") return new Response(JSON.stringify(makeExtraction()),
        { status: 201, headers: { "Content-Type": "application/json" } });
      return new Response(JSON.stringify({ device: "auto", runs_on: "worker", wait_s: 120 }),
        { status: 200, headers: { "Content-Type": "application/json" } });
    });
    renderWithProviders(<ActivationExtractionConfig />, { queryClient: seedConfig() });
    await fillConfig();
    await userEvent.click(screen.getByRole("button", { name: "Preflight" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("No job worker was free to measure it:");
    expect(alert).not.toHaveTextContent("Preflight refused");
    expect(alert).toHaveTextContent("Starting the extraction does not need it");
    const start = screen.getByRole("button", { name: "Start extraction" });
    expect(start).toBeEnabled();  // the create queues it; its job measures the run
    await userEvent.click(start);
    await vi.waitFor(() => expect(fetchSpy.mock.calls.some(([url, init]) =>
      init?.method === "POST" && String(url).endsWith("/extractions"))).toBe(true));
    fetchSpy.mockRestore();
  });

  it("test_number_fields_read_separators_and_refuse_invalid_values_beside_the_field", async () => {
    const fetchSpy = mockPreflight();
    renderWithProviders(<ActivationExtractionConfig />, { queryClient: seedConfig() });
    await fillConfig();
    const preflightButton = screen.getByRole("button", { name: "Preflight" });
    const maxTokens = screen.getByLabelText("Max tokens");
    for (const bad of ["0", "-5", "abc", "1.5"]) {
      await userEvent.clear(maxTokens);
      await userEvent.type(maxTokens, bad);
      expect(screen.getByRole("alert")).toHaveTextContent(/Max tokens/);
      expect(maxTokens).toHaveAttribute("aria-invalid", "true");
      expect(preflightButton).toBeDisabled();
    }
    await userEvent.clear(maxTokens);
    await userEvent.type(maxTokens, "2,048");
    expect(screen.queryByRole("alert")).toBeNull();
    const batch = screen.getByLabelText("Batch size");
    for (const bad of ["0", "abc"]) {
      await userEvent.clear(batch);
      await userEvent.type(batch, bad);
      expect(screen.getByRole("alert")).toHaveTextContent(/Batch size/);
      expect(preflightButton).toBeDisabled();
    }
    await userEvent.clear(batch); // empty: the default, 8
    await userEvent.selectOptions(screen.getByLabelText("Positions"), "every_k");
    const everyK = screen.getByLabelText("Every k");
    await userEvent.clear(everyK);
    await userEvent.type(everyK, "0");
    expect(screen.getByRole("alert")).toHaveTextContent(/^k /);
    expect(preflightButton).toBeDisabled();
    // no hint of which positions it keeps while k is not one ("Keeps every token." stood here)
    expect(screen.queryByTestId("positions-hint")).toBeNull();
    await userEvent.clear(everyK);
    await userEvent.type(everyK, "3");
    expect(preflightButton).toBeEnabled();
    // which positions: k-1, 2k-1, ... (counting from 1), not 0, k, 2k
    expect(screen.getByTestId("positions-hint")).toHaveTextContent(
      "Keeps every 3rd token (positions 2, 5, 8, …).");
    await userEvent.click(preflightButton);
    await screen.findByTestId("extraction-preflight");
    const posted = fetchSpy.mock.calls.find(([url]) => String(url).endsWith("/extractions/preflight"));
    const body = JSON.parse(String(posted?.[1]?.body));
    expect(body).toMatchObject({ max_tokens: 2048, batch_size: 8, positions: "every_k", every_k: 3 });
    fetchSpy.mockRestore();
  });

  it("test_start_before_any_preflight_says_why_it_waits", async () => {
    // a browser walk: Start was disabled beside an empty space until a first preflight
    const fetchSpy = mockPreflight();
    renderWithProviders(<ActivationExtractionConfig />, { queryClient: seedConfig() });
    await fillConfig();
    expect(screen.getByRole("button", { name: "Start extraction" })).toBeDisabled();
    expect(screen.getByTestId("preflight-first")).toHaveTextContent(
      "Run Preflight first: Start confirms what it measures");
    await userEvent.click(screen.getByRole("button", { name: "Preflight" }));
    await screen.findByTestId("extraction-preflight");
    expect(screen.queryByTestId("preflight-first")).toBeNull();
    expect(screen.getByRole("button", { name: "Start extraction" })).toBeEnabled();
    fetchSpy.mockRestore();
  });

  it("test_a_changed_setting_makes_the_preflight_stale_and_start_waits_for_a_new_one", async () => {
    const fetchSpy = mockPreflight();
    renderWithProviders(<ActivationExtractionConfig />, { queryClient: seedConfig() });
    await fillConfig();
    const start = screen.getByRole("button", { name: "Start extraction" });
    const changes: [string, () => Promise<void>][] = [
      ["max tokens", () => userEvent.type(screen.getByLabelText("Max tokens"), "500")],
      ["dtype", () => userEvent.selectOptions(screen.getByLabelText("Storage dtype"), "float32")],
      ["positions", () => userEvent.selectOptions(screen.getByLabelText("Positions"), "last")],
      ["batch", () => userEvent.type(screen.getByLabelText("Batch size"), "2")],
      ["hook pick", () => userEvent.click(screen.getByLabelText("blocks.1.attn_out"))],
    ];
    for (const [what, change] of changes) {
      await userEvent.click(screen.getByRole("button", { name: "Preflight" }));
      await screen.findByTestId("extraction-preflight");
      expect(start, what).toBeEnabled();
      await change();
      expect(screen.queryByTestId("extraction-preflight"), what).toBeNull();
      expect(screen.getByTestId("preflight-stale"), what).toBeInTheDocument();
      expect(start, what).toBeDisabled();
    }
    await userEvent.click(screen.getByRole("button", { name: "Preflight" }));
    await screen.findByTestId("extraction-preflight");
    expect(screen.queryByTestId("preflight-stale")).toBeNull();
    expect(start).toBeEnabled();
    fetchSpy.mockRestore();
  });
  it("test_delete_on_the_results_page_goes_back_to_the_list", async () => {
    const queryClient = createTestQueryClient();
    const extraction = makeExtraction({ status: "complete",
      job: makeJob({ id: 70, kind: "extract", state: "succeeded" }) });
    queryClient.setQueryData(extractionKeys.detail(7), extraction);
    for (const group of ["non_bos", "bos"] as const) {
      queryClient.setQueryData(extractionKeys.stats(7, group), makeStats(group));
      seedSamples(queryClient, 7, makeSamples(group));
    }
    const json = (body: unknown, status = 200) => new Response(JSON.stringify(body),
      { status, headers: { "Content-Type": "application/json" } });
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (url, init) => {
      if (init?.method === "DELETE") return new Response(null, { status: 204 });
      if (/\/extractions\/7(\?|$)/.test(String(url))) {  // it is gone now
        return json({ error: { code: "not_found", message: "extraction 7 does not exist",
          details: {} } }, 404);
      }
      return json({ total: 0, items: [] });
    });
    const confirmSpy = vi.spyOn(window, "confirm").mockReturnValue(true);
    const router = createMemoryRouter([
      { path: "/extractions", element: <p>extractions list</p> },
      { path: "/extractions/:extractionId", element: <ExtractionResultsPage /> },
    ], { initialEntries: ["/extractions/7"] });
    render(
      <QueryClientProvider client={queryClient}>
        <RouterProvider router={router} />
      </QueryClientProvider>,
    );
    await userEvent.click(screen.getByRole("button", { name: "Delete" }));
    expect(await screen.findByText("extractions list")).toBeInTheDocument();
    expect(router.state.location.pathname).toBe("/extractions");
    expect(screen.queryByText(/Could not load/)).toBeNull();
    // the deleted extraction is not asked for again (that 404 is what the page used to show)
    const reads = fetchSpy.mock.calls.filter(([url, init]) =>
      init?.method === "GET" && /\/extractions\/7(\?|$)/.test(String(url)));
    expect(reads).toHaveLength(0);
    confirmSpy.mockRestore();
    fetchSpy.mockRestore();
  });
  it("test_a_complete_extraction_offers_no_retry", () => {
    // found by a browser walk: Retry deleted the complete store to compute the same again
    // (the server now refuses it: 409 job_already_succeeded)
    renderWithProviders(<ExtractionActions id={7} jobState="succeeded" />);
    expect(screen.queryAllByRole("button").map((button) => button.textContent)).toEqual(["Delete"]);
  });

  it("test_retry_of_a_stopped_extraction_asks_first_resume_does_not", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response(
      JSON.stringify(makeExtraction()), { status: 200, headers: { "Content-Type": "application/json" } }));
    const confirmSpy = vi.spyOn(window, "confirm").mockReturnValue(false);
    // a stopped run's kept shards are what Resume continues from; Retry deletes them
    for (const state of ["cancelled", "failed", "interrupted"]) {
      confirmSpy.mockClear();
      fetchSpy.mockClear();
      confirmSpy.mockReturnValue(false);
      const view = renderWithProviders(<ExtractionActions id={7} jobState={state} />);
      await userEvent.click(screen.getByRole("button", { name: "Retry" }));
      expect(confirmSpy).toHaveBeenCalledWith(expect.stringMatching(/rows its last run kept.*Resume/));
      expect(fetchSpy).not.toHaveBeenCalled();  // declined: nothing sent
      await userEvent.click(screen.getByRole("button", { name: "Resume" }));
      await vi.waitFor(() => expect(fetchSpy).toHaveBeenCalledTimes(1));
      expect(String(fetchSpy.mock.calls[0]?.[0])).toMatch(/\/extractions\/7\/resume$/);
      expect(confirmSpy).toHaveBeenCalledTimes(1);  // resume keeps everything: no question
      view.unmount();
    }
    confirmSpy.mockRestore();
    fetchSpy.mockRestore();
  });

  it("test_start_says_it_is_measuring_and_is_busy_while_the_create_request_runs", async () => {
    const { fetchSpy, answer } = await preflightThenHoldTheCreate();
    // one batch, one shard: counted in the singular ("1 batches", "1 shard(s)" before)
    expect(screen.getByTestId("extraction-preflight")).toHaveTextContent(/2 sequences, 1 batch(?!es)/);
    expect(screen.getByTestId("preflight-bytes")).toHaveTextContent("in 1 shard,");
    const start = screen.getByRole("button", { name: "Start extraction" });
    expect(start).not.toHaveAttribute("aria-busy");
    await userEvent.click(start);
    expect(start).toHaveTextContent("Starting… (measuring a batch)");
    expect(start).toHaveAttribute("aria-busy", "true");
    expect(start).toBeDisabled();
    answer.current(new Response(JSON.stringify(makeExtraction()),
      { status: 201, headers: { "Content-Type": "application/json" } }));
    await vi.waitFor(() => expect(start).toHaveTextContent("Start extraction"));
    expect(start).not.toHaveAttribute("aria-busy");
    // the form says what it started and links to it (it went back to "Preflight" in silence)
    const started = screen.getByTestId("extraction-started");
    expect(started).toHaveTextContent("Started extraction #7");
    expect(within(started).getByRole("link", { name: "extraction #7" }))
      .toHaveAttribute("href", "/extractions/7");
    fetchSpy.mockRestore();
  });

  it("test_a_double_click_on_start_sends_one_create_request", async () => {
    const { fetchSpy, answer } = await preflightThenHoldTheCreate();
    const start = screen.getByRole("button", { name: "Start extraction" });
    fireEvent.click(start);  // two clicks before React renders the busy button
    fireEvent.click(start);
    const creates = () => fetchSpy.mock.calls.filter(([url]) => String(url).endsWith("/extractions"));
    await vi.waitFor(() => expect(creates()).toHaveLength(1));
    answer.current(new Response(JSON.stringify(makeExtraction()),
      { status: 201, headers: { "Content-Type": "application/json" } }));
    await vi.waitFor(() => expect(start).toHaveTextContent("Start extraction"));
    expect(creates()).toHaveLength(1);
    fetchSpy.mockRestore();
  });

  it("test_before_a_model_is_picked_the_form_says_what_to_pick_not_a_verdict_or_a_question_mark", () => {
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(extractionKeys.models(), { total: 0, items: [] });
    queryClient.setQueryData(extractionKeys.datasets(), { total: 0, items: [] });
    renderWithProviders(<ActivationExtractionConfig />, { queryClient });
    expect(screen.getByLabelText("Tokenization")).toHaveDisplayValue("pick a model and a dataset");
    expect(screen.getByLabelText("Precision")).toHaveDisplayValue("model's");  // was "model's (?)"
  });

  it("test_dataset_picker_tells_namesakes_apart_and_offers_ready_ones_only", () => {
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(extractionKeys.models(), { total: 0, items: [] });
    queryClient.setQueryData(extractionKeys.datasets(), { total: 3, items: [
      { id: 4, name: "quotes", status: "ready", rows: 1200 },
      { id: 5, name: "quotes", status: "ready", rows: 80 },
      { id: 6, name: "broken", status: "failed", rows: null }] });
    renderWithProviders(<ActivationExtractionConfig />, { queryClient });
    const options = within(screen.getByLabelText("Dataset")).getAllByRole("option");
    expect(options.map((o) => o.textContent)).toEqual(
      ["choose a dataset", "quotes · #4 · 1,200 rows", "quotes · #5 · 80 rows"]);
  });

  it("test_the_history_filters_by_model_and_text_in_the_url_and_pages_past_the_first_50", async () => {
    // the API filters by model_id and q (name or config hash); the page offered status only,
    // and listed the newest 200 saying nothing of the rest
    const asked: URL[] = [];
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input) => {
      const url = new URL(String(input), "http://test");
      const body = url.pathname.endsWith("/models")
        ? { total: 2, items: [{ id: 1, name: "tiny", status: "ready", n_layers: 3 },
          { id: 2, name: "gone", status: "failed", n_layers: 3 }] }
        : url.pathname.endsWith("/extractions")
          ? (asked.push(url), { total: 120, items: [makeExtraction({ status: "complete" })] })
          : { total: 0, items: [] };
      return new Response(JSON.stringify(body),
        { status: 200, headers: { "Content-Type": "application/json" } });
    });
    const { router } = renderWithProviders(<ExtractionsPage />, { path: "/extractions" });
    const model = screen.getByLabelText("Filter by model");
    await vi.waitFor(() => expect(within(model).getAllByRole("option")).toHaveLength(3));
    await userEvent.selectOptions(model, "2");  // a failed model's extractions are still history
    await userEvent.type(screen.getByLabelText("Search extractions"), "demo");
    await vi.waitFor(() => {
      const last = asked[asked.length - 1]!;
      expect(last.searchParams.get("model_id")).toBe("2");
      expect(last.searchParams.get("q")).toBe("demo");
    });
    expect(new URLSearchParams(router.state.location.search).get("model")).toBe("2");
    expect(new URLSearchParams(router.state.location.search).get("q")).toBe("demo");
    expect(await screen.findByText("1–50 of 120")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Older →" }));
    await vi.waitFor(() => expect(asked[asked.length - 1]!.searchParams.get("offset")).toBe("50"));
    await userEvent.click(screen.getByRole("button", { name: "Clear filters" }));
    expect(router.state.location.search).toBe("");
    expect(screen.getByLabelText("Filter by model")).toHaveValue("");
    expect(screen.getByLabelText("Search extractions")).toHaveValue("");
    fetchSpy.mockRestore();
  });

  it("test_an_empty_status_filter_says_nothing_matches_and_offers_all_statuses", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (url) => {
      const running = String(url).includes("status=running");
      return new Response(JSON.stringify(running ? { total: 0, items: [] }
        : { total: 1, items: [makeExtraction({ status: "complete" })] }),
      { status: 200, headers: { "Content-Type": "application/json" } });
    });
    const { router } = renderWithProviders(<ExtractionsPage />, { path: "/extractions" });
    await userEvent.selectOptions(screen.getByLabelText("Filter by status"), "running");
    expect(await screen.findByText(/No running extraction/)).toBeInTheDocument();
    expect(screen.queryByText(/No extractions yet/)).toBeNull();
    // found by a tester: the filter was lost on reload (the jobs page keeps its own in the URL)
    expect(router.state.location.search).toBe("?status=running");
    await userEvent.click(screen.getByRole("button", { name: "Show all statuses" }));
    expect(screen.getByLabelText("Filter by status")).toHaveValue("");
    expect(screen.queryByText(/No running extraction/)).toBeNull();
    expect(router.state.location.search).toBe("");
    fetchSpy.mockRestore();
  });
});
