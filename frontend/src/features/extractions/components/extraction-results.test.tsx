import { QueryClientProvider } from "@tanstack/react-query";
import { act, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createMemoryRouter, RouterProvider } from "react-router";
import { liveJobKey } from "@/lib/live-job";
import { makeJob } from "@/test/job-factory";
import { createTestQueryClient, renderWithProviders } from "@/test/render";
import { extractionKeys } from "../api/extraction-keys";
import { exportUnderwayQueryOptions } from "../api/get-export-underway";
import { makeExtraction, makeSamples, makeStats, seedSamples } from "../lib/extraction-factory";
import type { Extraction, ExtractionPreflight } from "../types";
import { PreflightPanel } from "./preflight-panel";
import { firstPositionDominance } from "./export-box";
import { ExtractionResults, ExtractionResultsPage, stoppedRunKey } from "./extraction-results";

function seededClient() {
  const queryClient = createTestQueryClient();
  for (const group of ["non_bos", "bos"] as const) {
    queryClient.setQueryData(extractionKeys.stats(7, group), makeStats(group));
    seedSamples(queryClient, 7, makeSamples(group));
  }
  // no export of extraction 7 under way when the page opened
  queryClient.setQueryData(exportUnderwayQueryOptions(7).queryKey, null);
  // model 1's architecture: the modules its output points are read at (resid_pre has none)
  queryClient.setQueryData(extractionKeys.hookPoints(1), twoLayerArchitecture());
  return queryClient;
}

/** A 2-layer Llama-like model's `GET /models/1/architecture` (the fields the box reads). */
function twoLayerArchitecture() {
  const point = (layer: number, kind: string, module: string | null, phase: string) =>
    ({ name: `blocks.${layer}.${kind}`, kind, module, phase });
  return { layers: [0, 1].map((i) => ({ index: i, hook_points: [
    point(i, "resid_pre", `model.layers.${i}`, "input"),
    point(i, "attn_out", `model.layers.${i}.self_attn`, "output"),
    point(i, "mlp_out", `model.layers.${i}.mlp`, "output"),
    point(i, "resid_post", `model.layers.${i}`, "output")] })) };
}

const complete = (overrides: Partial<Extraction> = {}) => makeExtraction({ status: "complete",
  job: makeJob({ id: 70, kind: "extract", state: "succeeded" }),
  counts: { rows: 4000, bytes: 1_000_000, tokens_per_s: 900 }, ...overrides });

/** The export job as the start answers when it has already finished: its result is the export. */
let nextJobId = 90;
const exportJob = (result: Record<string, unknown>) => makeJob({ id: nextJobId++,
  kind: "extraction_export", state: "succeeded", result });

describe("extraction results", () => {
  it("test_the_export_hints_when_first_position_rows_dwarf_the_rest", () => {
    const withFirstRows = (firstMean: number) => {
      const stats = makeStats("non_bos");
      const hook = stats.hooks["blocks.1.resid_post"] as {
        groups: Record<string, { rows: number; norm: { mean: number } }> };
      hook.groups.bos = { ...hook.groups.bos!, norm: { ...hook.groups.bos!.norm, mean: firstMean } };
      const queryClient = seededClient();
      queryClient.setQueryData(extractionKeys.stats(7, "non_bos"), stats);
      return queryClient;
    };
    // the rest's mean at blocks.1.resid_post is 2: 60 is 30x, 8 only 4x
    const view = renderWithProviders(<ExtractionResults extraction={complete()} />,
      { queryClient: withFirstRows(60) });
    const hint = screen.getByTestId("export-first-position-hint");
    expect(hint).toHaveTextContent(/mean norm 30× the other rows' at blocks\.1\.resid_post/);
    expect(hint).toHaveTextContent(/Tick Leave out first positions to export without the rows at position 0/);
    view.unmount();
    renderWithProviders(<ExtractionResults extraction={complete()} />,
      { queryClient: withFirstRows(8) });
    expect(screen.getByRole("button", { name: "Export for SAELens" })).toBeInTheDocument();
    expect(screen.queryByTestId("export-first-position-hint")).toBeNull();
  });

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
      expect(queryClient.getQueryData(extractionKeys.samples(7, "non_bos", "blocks.1.resid_post")))
        .toBeUndefined();
      unmount();
    }
  });

  it("test_a_complete_extraction_shows_its_figures", () => {
    renderWithProviders(<ExtractionResults extraction={complete()} />,
      { queryClient: seededClient() });
    expect(screen.getByRole("img", { name: "Mean L2 norm per layer" })).toBeInTheDocument();
    expect(screen.getByTestId("row-group-rows")).toHaveTextContent("3,990 rows");
  });

  it("test_export_sends_the_context_size_and_shows_the_refusal_beside_it", async () => {
    const bodies: unknown[] = [];
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (_url, init) => {
      const body = JSON.parse(String(init?.body ?? "{}")) as { context_size?: number };
      bodies.push(body);
      if (!body.context_size) {
        return new Response(JSON.stringify({ error: { code: "invalid_input", details: {},
          message: "the stored sequences have different lengths (12..256); pass context_size=N" } }),
        { status: 422, headers: { "Content-Type": "application/json" } });
      }
      return new Response(JSON.stringify(exportJob({ path: "extractions/7/export-saelens",
        abs_path: "/data/extractions/7/export-saelens", rows: 15,
        context_size: 128, dtype: "float16", hook_names: ["blocks.0.resid_post"],
        tokens_exported: 1920, tokens_dropped: 80, replaced: true })),
      { status: 200, headers: { "Content-Type": "application/json" } });
    });
    renderWithProviders(<ExtractionResults extraction={complete()} />,
      { queryClient: seededClient() });
    const exportButton = screen.getByRole("button", { name: "Export for SAELens" });
    await userEvent.click(exportButton);
    expect(await screen.findByText(/pass context_size=N/)).toBeInTheDocument();
    // the default it names is read whole (16 characters wide, it read "the sequences' lengt")
    const field = screen.getByLabelText("Context size");
    expect(Number(field.getAttribute("size"))).toBeGreaterThan(
      (field.getAttribute("placeholder") ?? "").length);
    await userEvent.type(screen.getByLabelText("Context size"), "0");
    expect(screen.getByText("Context size must be at least 1")).toBeInTheDocument();
    expect(exportButton).toBeDisabled();
    await userEvent.clear(screen.getByLabelText("Context size"));
    await userEvent.type(screen.getByLabelText("Context size"), "128");
    await userEvent.click(exportButton);
    expect(await screen.findByTestId("export-result")).toHaveTextContent(
      "wrote /data/extractions/7/export-saelens: 15 sequences of 128 tokens, one dataset row each");
    // the export's rows are sequences of tokens: "15 rows" beside a store of 4,000 rows per hook
    // point read as activation rows (found by a browser walk)
    expect(screen.getByTestId("export-result").textContent).not.toMatch(/\brows\b/);
    expect(screen.getByTestId("export-result")).toHaveTextContent(
      "it replaced the earlier export there");
    // a packed export drops the tail that does not fill a row: said (the answer had it, unshown)
    expect(screen.getByTestId("export-result")).toHaveTextContent(
      "the last 80 tokens did not fill a sequence and were left out");
    expect(bodies).toEqual([{ column_names: "hook_points", exclude_first_position: false },
      { column_names: "hook_points", exclude_first_position: false, context_size: 128 }]);
    fetchSpy.mockRestore();
  });

  it("test_the_export_runs_as_a_job_with_live_progress_and_a_cancel", async () => {
    // the export blocked one request for minutes with no progress and no way to stop it
    const urls: string[] = [];
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (url) => {
      urls.push(String(url));
      const job = String(url).endsWith("/jobs/80/cancel")
        ? makeJob({ id: 80, kind: "extraction_export", state: "running", stage: "export",
          done: 40, total: 100, unit: "rows", cancel_requested: true })
        : makeJob({ id: 80, kind: "extraction_export", state: "queued" });
      return new Response(JSON.stringify(job),
        { status: String(url).endsWith("/export-job") ? 202 : 200,
          headers: { "Content-Type": "application/json" } });
    });
    const queryClient = seededClient();
    renderWithProviders(<ExtractionResults extraction={complete()} />, { queryClient });
    await userEvent.click(screen.getByRole("button", { name: "Export for SAELens" }));
    expect(await screen.findByTestId("export-progress-text")).toHaveTextContent(
      "Waiting for a job worker");
    expect(screen.getByRole("button", { name: "Exporting…" })).toBeDisabled();
    // the worker's snapshots arrive over the WebSocket into the live-job cache
    act(() => queryClient.setQueryData(liveJobKey(80), makeJob({ id: 80,
      kind: "extraction_export", state: "running", stage: "export", done: 40, total: 100,
      unit: "rows" })));
    await waitFor(() => expect(screen.getByTestId("export-progress-text")).toHaveTextContent(
      "Exporting: 40 / 100 sequences"));
    expect(screen.getByRole("progressbar", { name: "Export progress" }))
      .toHaveAttribute("aria-valuenow", "40");
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(await screen.findByText("Cancelling…")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Cancel" })).toBeDisabled();
    act(() => queryClient.setQueryData(liveJobKey(80), makeJob({ id: 80,
      kind: "extraction_export", state: "cancelled", done: 40, total: 100, unit: "rows" })));
    expect(await screen.findByTestId("export-cancelled")).toHaveTextContent(
      "Export cancelled: nothing was written; an earlier export, if any, is as it was.");
    expect(screen.queryByTestId("export-progress")).toBeNull();
    expect(screen.getByRole("button", { name: "Export for SAELens" })).toBeEnabled();
    expect(urls.map((u) => u.replace(/^.*\/api\/v1/, ""))).toEqual(
      ["/extractions/7/export-job", "/jobs/80/cancel"]);
    fetchSpy.mockRestore();
  });

  it("test_an_export_already_under_way_is_followed_not_refused", async () => {
    // opened again while its export runs: the start is refused and names the running job
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (url) =>
      String(url).endsWith("/export-job")
        ? new Response(JSON.stringify({ error: { code: "export_underway", message:
          "extraction 7 cannot be exported again: its export (job 85) is under way; wait for it "
          + "or cancel it", details: { extraction_id: 7, job_id: 85, action: "exported again" } } }),
        { status: 409, headers: { "Content-Type": "application/json" } })
        : new Response(JSON.stringify(makeJob({ id: 85, kind: "extraction_export",
          state: "running", stage: "export", done: 10, total: 100, unit: "rows" })),
        { status: 200, headers: { "Content-Type": "application/json" } }));
    renderWithProviders(<ExtractionResults extraction={complete()} />,
      { queryClient: seededClient() });
    await userEvent.click(screen.getByRole("button", { name: "Export for SAELens" }));
    expect(await screen.findByTestId("export-underway")).toHaveTextContent(
      "An export of this extraction was already under way (job 85): following it.");
    expect(await screen.findByTestId("export-progress-text")).toHaveTextContent(
      "Exporting: 10 / 100 sequences");
    expect(screen.queryByText(/cannot be exported again/)).toBeNull();
    expect(screen.getByRole("button", { name: "Cancel" })).toBeEnabled();
    fetchSpy.mockRestore();
  });

  it("test_the_export_says_it_is_assembling_the_dataset_which_cannot_be_stopped", async () => {
    // after the last block the bar sat full and silent while the blocks became the dataset
    const queryClient = seededClient();
    queryClient.setQueryData(exportUnderwayQueryOptions(7).queryKey, makeJob({ id: 82,
      kind: "extraction_export", state: "running", stage: "export", done: 100, total: 100,
      unit: "rows", params: { extraction_id: 7 } }));
    renderWithProviders(<ExtractionResults extraction={complete()} />, { queryClient });
    act(() => queryClient.setQueryData(liveJobKey(82), makeJob({ id: 82,
      kind: "extraction_export", state: "running", stage: "assemble",
      message: "assembling the blocks into the dataset", params: { extraction_id: 7 } })));
    await waitFor(() => expect(screen.getByTestId("export-progress-text")).toHaveTextContent(
      "Assembling the dataset (this last step cannot be stopped)…"));
    expect(screen.getByRole("progressbar", { name: "Export progress" }))
      .toHaveAttribute("aria-valuetext", "unknown");
    expect(screen.getByRole("button", { name: "Cancel" })).toBeDisabled();
    // a cancel from elsewhere (the jobs page, the CLI) arrives: it cannot stop this step
    act(() => queryClient.setQueryData(liveJobKey(82), makeJob({ id: 82,
      kind: "extraction_export", state: "running", stage: "assemble", cancel_requested: true,
      params: { extraction_id: 7 } })));
    await waitFor(() => expect(screen.getByTestId("export-progress-text")).toHaveTextContent(
      "Assembling the dataset: a cancel cannot stop this last step, so the export will finish"));
  });

  it("test_an_export_under_way_when_the_page_opens_is_followed_at_once", async () => {
    // the box followed a running export only after a start it refused (export_underway):
    // opened during an export, it offered to start another and showed no progress or Cancel.
    // It asks for this extraction's export (`extraction_id=`), not every running one
    const urls: string[] = [];
    const running = makeJob({ id: 86, kind: "extraction_export", state: "running",
      stage: "export", done: 30, total: 120, unit: "rows",
      params: { extraction_id: 7, context_size: 8 } });
    const other = makeJob({ id: 87, kind: "extraction_export", state: "running",
      stage: "export", done: 5, total: 50, unit: "rows", params: { extraction_id: 9 } });
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (url) => {
      urls.push(String(url).replace(/^.*\/api\/v1/, ""));
      // the server's list keeps the jobs of the extraction asked for (`extraction_id=`)
      const asked = new URL(String(url), "http://x").searchParams.get("extraction_id");
      const listed = [other, running].filter((job) => asked === null
        || Number(job.params?.extraction_id) === Number(asked));
      const body = String(url).includes("/jobs?")
        ? { items: listed, total: listed.length }
        : { ...running, cancel_requested: true };
      return new Response(JSON.stringify(body),
        { status: 200, headers: { "Content-Type": "application/json" } });
    });
    const queryClient = seededClient();
    queryClient.removeQueries({ queryKey: exportUnderwayQueryOptions(7).queryKey });
    renderWithProviders(<ExtractionResults extraction={complete()} />, { queryClient });
    expect(await screen.findByTestId("export-progress-text")).toHaveTextContent(
      "Exporting: 30 / 120 sequences");
    expect(screen.getByTestId("export-attached")).toHaveTextContent(
      "An export of this extraction is under way (job 86): following it.");
    expect(screen.getByRole("button", { name: "Exporting…" })).toBeDisabled();
    expect(urls).toEqual(
      ["/jobs?kind=extraction_export&state=queued&state=running&extraction_id=7&limit=1"]);
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(await screen.findByText("Cancelling…")).toBeInTheDocument();
    expect(urls.at(-1)).toBe("/jobs/86/cancel");
    fetchSpy.mockRestore();
  });

  it("test_a_stopped_runs_store_is_exported_but_a_failed_runs_is_not", () => {
    // the server exports a cancelled or interrupted run's whole shards (marked partial), and
    // refuses a failed one's (what failed may be the store)
    for (const [status, offered] of [["cancelled", true], ["interrupted", true],
      ["failed", false]] as const) {
      const job = makeJob({ id: 70, kind: "extract", state: status, done: 2000, total: 8192,
        unit: "tokens", finished_at: "2026-01-01T12:05:00Z" });
      const queryClient = createTestQueryClient();
      queryClient.setQueryData([...extractionKeys.stats(7, "non_bos"), "stopped",
        stoppedRunKey(job)], { ...makeStats("non_bos"), status: "partial", rows: 2000, shards: 2 });
      const view = renderWithProviders(<ExtractionResults extraction={makeExtraction({ status,
        job, store_abs_path: "/data/extractions/7/store" })} />, { queryClient });
      expect(screen.getByRole("img", { name: "Mean L2 norm per layer" })).toBeInTheDocument();
      expect(screen.queryByRole("button", { name: "Export for SAELens" }) !== null).toBe(offered);
      // the note above the figures says the same as the box below it ("the export comes when
      // it completes" sat above an offered export)
      const note = screen.getByTestId("partial-results");
      expect(note).toHaveTextContent(offered ? /an export now holds only these rows/
        : /The highest-norm tokens and the export come when it completes/);
      expect(note.textContent?.includes("and the export come")).toBe(!offered);
      view.unmount();
    }
  });

  it("test_a_failed_export_job_shows_its_error", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async () =>
      new Response(JSON.stringify(makeJob({ id: 81, kind: "extraction_export",
        state: "failed", error_code: "invalid_input",
        error_message: "the store holds 5 tokens, fewer than one row of 8" })),
      { status: 202, headers: { "Content-Type": "application/json" } }));
    renderWithProviders(<ExtractionResults extraction={complete()} />,
      { queryClient: seededClient() });
    await userEvent.click(screen.getByRole("button", { name: "Export for SAELens" }));
    expect(await screen.findByText(/fewer than one row of 8/)).toBeInTheDocument();
    expect(screen.queryByTestId("export-result")).toBeNull();
    fetchSpy.mockRestore();
  });

  it("test_export_shows_the_servers_warning_that_rows_are_not_consecutive_tokens", async () => {
    const warning = "rows are not consecutive tokens: the store keeps one token in 4 of each "
      + "sequence (positions 'every_k', k=4: positions 3, 7, 11, ...), so a dataset row of 8 "
      + "holds tokens 4 apart, which SAELens will treat as consecutive text";
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async () =>
      new Response(JSON.stringify(exportJob({ path: "extractions/7/saelens",
        abs_path: "/data/extractions/7/saelens", rows: 12, context_size: 8, dtype: "float16",
        hook_names: ["blocks.0.resid_post"], tokens_exported: 96, tokens_dropped: 0,
        replaced: false, warnings: [warning] })),
      { status: 200, headers: { "Content-Type": "application/json" } }));
    renderWithProviders(<ExtractionResults extraction={complete()} />,
      { queryClient: seededClient() });
    await userEvent.click(screen.getByRole("button", { name: "Export for SAELens" }));
    expect(await screen.findByTestId("export-result")).toHaveTextContent("12 sequences of 8 tokens");
    expect(screen.getByTestId("export-warning")).toHaveTextContent(`Warning: ${warning}`);
    fetchSpy.mockRestore();
  });

  it("test_export_names_columns_by_module_path_when_chosen_and_lists_them", async () => {
    const bodies: unknown[] = [];
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (_url, init) => {
      bodies.push(JSON.parse(String(init?.body ?? "{}")));
      return new Response(JSON.stringify(exportJob({ path: "extractions/7/saelens",
        abs_path: "/data/extractions/7/saelens", rows: 12, context_size: 8, dtype: "float16",
        hook_points: ["blocks.3.resid_post"], hook_names: ["blocks.3.resid_post"],
        tokens_exported: 96, tokens_dropped: 0, replaced: false, warnings: [],
        column_names: "module_paths", columns: { "model.layers.3": "blocks.3.resid_post" } })),
      { status: 200, headers: { "Content-Type": "application/json" } });
    });
    renderWithProviders(<ExtractionResults extraction={complete()} />,
      { queryClient: seededClient() });
    expect(screen.getByTestId("column-names-hint")).toHaveTextContent(
      'for SAELens with model_class_name="AutoModelForCausalLM" and no override_model');
    await userEvent.selectOptions(screen.getByLabelText("Column names"), "module_paths");
    await userEvent.click(screen.getByRole("button", { name: "Export for SAELens" }));
    expect(await screen.findByTestId("export-columns")).toHaveTextContent(
      "Columns by module path: model.layers.3 = blocks.3.resid_post");
    expect(bodies).toEqual([{ column_names: "module_paths", exclude_first_position: false }]);
    fetchSpy.mockRestore();
  });

  it("test_a_module_path_refusal_offers_to_export_only_the_points_that_have_one", async () => {
    // the refusal says "export only those", but the box had no way to pick points: a store of
    // resid_pre + mlp_act + resid_post could never be exported by module path from the UI
    const bodies: Record<string, unknown>[] = [];
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (_url, init) => {
      const body = JSON.parse(String(init?.body ?? "{}")) as Record<string, unknown>;
      bodies.push(body);
      if (!body.hook_points) {
        return new Response(JSON.stringify({ error: { code: "no_module_path",
          message: "2 hook point(s) cannot be named by a module path",
          details: { refused: { "blocks.1.resid_pre": "x", "blocks.1.mlp_act": "y" },
            nameable: ["blocks.0.resid_post", "blocks.1.resid_post"] } } }),
        { status: 422, headers: { "Content-Type": "application/json" } });
      }
      return new Response(JSON.stringify(exportJob({ path: "extractions/7/saelens",
        abs_path: "/data/extractions/7/saelens", rows: 12, context_size: 8, dtype: "float16",
        hook_points: body.hook_points, hook_names: body.hook_points,
        tokens_exported: 96, tokens_dropped: 0, replaced: false, warnings: [],
        column_names: "module_paths",
        columns: { "model.layers.0": "blocks.0.resid_post", "model.layers.1": "blocks.1.resid_post" } })),
      { status: 200, headers: { "Content-Type": "application/json" } });
    });
    renderWithProviders(<ExtractionResults extraction={complete()} />,
      { queryClient: seededClient() });
    await userEvent.selectOptions(screen.getByLabelText("Column names"), "module_paths");
    await userEvent.click(screen.getByRole("button", { name: "Export for SAELens" }));
    const only = await screen.findByRole("button",
      { name: "Export only the 2 points with a module path" });
    await userEvent.click(only);
    expect(await screen.findByTestId("export-columns")).toHaveTextContent(
      "model.layers.0 = blocks.0.resid_post, model.layers.1 = blocks.1.resid_post");
    expect(bodies).toEqual([{ column_names: "module_paths", exclude_first_position: false },
      { column_names: "module_paths", exclude_first_position: false,
        hook_points: ["blocks.0.resid_post", "blocks.1.resid_post"] }]);
    expect(screen.queryByTestId("export-nameable")).toBeNull();
    fetchSpy.mockRestore();
  });

  it("test_the_first_position_hint_names_only_the_points_the_export_takes", async () => {
    // after "Export only the 2 points with a module path" the hint still named blocks.1.resid_pre
    // (30x), a point that export left out; of the exported points resid_post's is 6x
    type Groups = Record<string, { rows: number; norm: { mean: number } }>;
    const stats = makeStats("non_bos");
    const withFirstMean = (hook: { groups: Groups }, mean: number) => ({ ...hook, groups: {
      ...hook.groups, bos: { ...hook.groups.bos!, norm: { ...hook.groups.bos!.norm, mean } } } });
    const post = stats.hooks["blocks.1.resid_post"] as { groups: Groups };
    stats.hooks["blocks.1.resid_post"] = withFirstMean(post, 12);  // the rest's mean is 2
    stats.hooks["blocks.1.resid_pre"] = withFirstMean(post, 60);
    const queryClient = seededClient();
    queryClient.setQueryData(extractionKeys.stats(7, "non_bos"), stats);
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (_url, init) => {
      const body = JSON.parse(String(init?.body ?? "{}")) as Record<string, unknown>;
      if (!body.hook_points) {
        return new Response(JSON.stringify({ error: { code: "no_module_path",
          message: "1 hook point(s) cannot be named by a module path",
          details: { refused: { "blocks.1.resid_pre": "x" },
            nameable: ["blocks.0.resid_post", "blocks.1.resid_post"] } } }),
        { status: 422, headers: { "Content-Type": "application/json" } });
      }
      return new Response(JSON.stringify(exportJob({ path: "extractions/7/saelens",
        abs_path: "/data/extractions/7/saelens", rows: 12, context_size: 8, dtype: "float16",
        hook_points: body.hook_points, hook_names: body.hook_points, tokens_exported: 96,
        tokens_dropped: 0, replaced: false, warnings: [], column_names: "module_paths",
        columns: { "model.layers.0": "blocks.0.resid_post", "model.layers.1": "blocks.1.resid_post" },
        exclude_first_position: false, first_positions_excluded: 0 })),
      { status: 200, headers: { "Content-Type": "application/json" } });
    });
    renderWithProviders(<ExtractionResults extraction={complete()} />, { queryClient });
    const hint = screen.getByTestId("export-first-position-hint");
    expect(hint).toHaveTextContent(/mean norm 30× the other rows' at blocks\.1\.resid_pre/);
    await userEvent.selectOptions(screen.getByLabelText("Column names"), "module_paths");
    await userEvent.click(screen.getByRole("button", { name: "Export for SAELens" }));
    await userEvent.click(await screen.findByRole("button",
      { name: "Export only the 2 points with a module path" }));
    await screen.findByTestId("export-columns");
    expect(screen.getByTestId("export-first-position-hint")).toHaveTextContent(
      /mean norm 6× the other rows' at blocks\.1\.resid_post/);
    expect(firstPositionDominance(stats, ["blocks.0.resid_post", "blocks.1.mlp_out"])).toBeNull();
    fetchSpy.mockRestore();
  });

  it("test_a_row_group_the_store_holds_no_row_of_cannot_be_picked", () => {
    // positions exclude_bos: no row at position 0 is stored, so "first position / BOS only"
    // showed "0 rows" and three empty figures when picked
    const stats = makeStats("non_bos");
    for (const hook of Object.values(stats.hooks) as { groups: Record<string, { rows: number }> }[]) {
      hook.groups.bos = { ...hook.groups.bos!, rows: 0 };
    }
    const queryClient = seededClient();
    queryClient.setQueryData(extractionKeys.stats(7, "non_bos"), stats);
    renderWithProviders(<ExtractionResults extraction={complete()} />, { queryClient });
    const bos = screen.getByRole("option", { name: "first position / BOS only: none stored" });
    expect(bos).toBeDisabled();
    expect(screen.getByRole("option", { name: "all rows" })).toBeEnabled();
    expect(screen.getByRole("option", { name: "past the first position (no BOS)" })).toBeEnabled();
  });

  it("test_the_export_leaves_out_first_positions_when_ticked", async () => {
    const bodies: unknown[] = [];
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (_url, init) => {
      bodies.push(JSON.parse(String(init?.body ?? "{}")));
      return new Response(JSON.stringify(exportJob({ path: "extractions/7/saelens",
        abs_path: "/data/extractions/7/saelens", rows: 12, context_size: 31, dtype: "float16",
        hook_points: ["blocks.0.resid_post"], hook_names: ["blocks.0.resid_post"],
        tokens_exported: 372, tokens_dropped: 0, replaced: false, warnings: [],
        column_names: "hook_points", columns: { "blocks.0.resid_post": "blocks.0.resid_post" },
        exclude_first_position: true, first_positions_excluded: 12 })),
      { status: 200, headers: { "Content-Type": "application/json" } });
    });
    const stats = makeStats("non_bos");
    const hook = stats.hooks["blocks.1.resid_post"] as {
      groups: Record<string, { rows: number; norm: { mean: number } }> };
    hook.groups.bos = { ...hook.groups.bos!, norm: { ...hook.groups.bos!.norm, mean: 60 } };
    const queryClient = seededClient();
    queryClient.setQueryData(extractionKeys.stats(7, "non_bos"), stats);
    renderWithProviders(<ExtractionResults extraction={complete()} />, { queryClient });
    const box = screen.getByLabelText("Leave out first positions");
    expect(box).not.toBeChecked();
    await userEvent.click(box);
    expect(screen.getByTestId("export-first-position-hint")).toHaveTextContent(
      /30× the other rows' at blocks\.1\.resid_post: this export leaves out the rows at position 0/);
    await userEvent.click(screen.getByRole("button", { name: "Export for SAELens" }));
    expect(await screen.findByTestId("export-result")).toHaveTextContent(
      "12 sequences of 31 tokens, one dataset row each (load with datasets.load_from_disk); "
      + "12 first-position tokens left out");
    expect(bodies).toEqual([{ column_names: "hook_points", exclude_first_position: true }]);
    fetchSpy.mockRestore();
  });

  it("test_a_complete_extraction_says_how_to_open_its_store_from_python", async () => {
    const user = userEvent.setup();
    const extraction = complete({ store_abs_path: "/data/extractions/7/store" });
    renderWithProviders(<ExtractionResults extraction={extraction} />,
      { queryClient: seededClient() });
    const box = screen.getByTestId("open-from-python");
    expect(box).toHaveTextContent("/data/extractions/7/store");
    // both places a store path shows wrap after a "/", never inside a name (break-all did)
    for (const path of screen.getAllByText((_, el) => el?.tagName === "CODE"
      && el.textContent === "/data/extractions/7/store")) {
      expect(path.querySelectorAll("wbr")).toHaveLength(4);
    }
    expect(screen.getAllByText((_, el) => el?.tagName === "CODE"
      && el.textContent === "/data/extractions/7/store")).toHaveLength(2);
    const code = box.querySelector("pre")?.textContent ?? "";
    expect(code).toContain("from interpstudio.ml import open_activations");
    expect(code).toContain('acts = open_activations("/data/extractions/7/store")');
    expect(code).toContain('acts["blocks.0.resid_post"][:1000]');
    expect(code).toContain('acts.stats["hooks"]["blocks.0.resid_post"]');
    await user.click(screen.getByRole("button", { name: "Copy" }));
    expect(await navigator.clipboard.readText()).toBe(code);
    expect(screen.getByRole("button", { name: "Copied" })).toBeInTheDocument();
  });

  it("test_no_python_box_before_the_store_is_complete", () => {
    const running = makeExtraction({ store_abs_path: "/data/extractions/7/store" });
    renderWithProviders(<ExtractionResults extraction={running} />);
    expect(screen.queryByTestId("open-from-python")).toBeNull();
  });

  it("test_a_running_extraction_says_what_it_knows_not_question_marks_and_dashes", () => {
    renderWithProviders(<ExtractionResults extraction={makeExtraction({ precision_used: null,
      precision_requested: "fp32", counts: { tokens_total: 4000 } })} />);
    expect(screen.getByTestId("extraction-precision")).toHaveTextContent(
      "asked fp32; known once the model is loaded");
    expect(screen.queryByText("written")).toBeNull();  // the progress says "GB written" live
    expect(screen.getByTestId("extraction-message")).toHaveTextContent("GB written");
  });

  it("test_a_running_extraction_is_fetched_again_when_its_job_reaches_a_new_stage", async () => {
    // the job writes the row at its stages (here the precision it loaded at); only the job's
    // progress comes live, so the page said "known once the model is loaded" for the whole run
    const loading = makeJob({ id: 70, kind: "extract", state: "running", stage: "load model" });
    const extracting = { ...loading, stage: "extract", done: 1000, total: 4000, unit: "tokens" };
    const queued = makeExtraction({ precision_used: null, job: loading });
    const loaded = makeExtraction({ precision_used: "fp32", job: extracting });
    const urls: string[] = [];
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (url) => {
      urls.push(String(url));
      return new Response(JSON.stringify(loaded),
        { status: 200, headers: { "Content-Type": "application/json" } });
    });
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(extractionKeys.detail(7), queued);
    queryClient.setQueryData(liveJobKey(70), loading);
    const router = createMemoryRouter(
      [{ path: "/extractions/:extractionId", element: <ExtractionResultsPage /> }],
      { initialEntries: ["/extractions/7"] });
    render(<QueryClientProvider client={queryClient}><RouterProvider router={router} />
    </QueryClientProvider>);
    expect(screen.getByTestId("extraction-precision")).toHaveTextContent(
      "asked fp32; known once the model is loaded");
    expect(urls).toEqual([]);  // the stage it was fetched at: nothing to refresh
    act(() => { queryClient.setQueryData(liveJobKey(70), extracting); });
    // what was asked is said where it differs only ("fp32 (asked fp32)" said nothing twice)
    await waitFor(() => expect(screen.getByTestId("extraction-precision")).toHaveTextContent(
      /^fp32$/));
    expect(urls.filter((u) => u.endsWith("/extractions/7"))).toHaveLength(1);  // once, no loop
    fetchSpy.mockRestore();
  });

  it("test_preflight_gives_the_exact_bytes_with_separators", () => {
    const report = { bytes: { shard_files: 4_110_336, stats_estimate: 100 }, calibration: null,
      disk_ok: true, disk_write_bytes_per_s: null, dtype: "float16", free_disk_bytes: 10 ** 10,
      hook_points: ["blocks.0.resid_post"], memory: { model: 1000, ram_needed: 2000, vram_needed: null },
      model: { precision_used: "fp32" }, plan: { tokens: 100, rows: 100, sequences: 2, batches: 1 },
      projected: { bound: "compute", compute_s: 1, disk_s: 0.1, total_s: 1 }, shard_rows: 100,
      shards: 1, widths: { "blocks.0.resid_post": 8 } } as unknown as ExtractionPreflight;
    renderWithProviders(<PreflightPanel report={report} />);
    expect(screen.getByTestId("preflight-bytes")).toHaveTextContent("(4,110,336 bytes exactly)");
    expect(screen.queryByTestId("preflight-note")).toBeNull();
  });

  it("test_the_preflight_shows_the_servers_notes", () => {
    const note = "no sequence starts with the BOS token (id 1; this tokenization adds none), so "
      + "'BOS excluded' keeps every position, the first one included";
    const report = { bytes: { shard_files: 4096, stats_estimate: 100 }, calibration: null,
      disk_ok: true, disk_write_bytes_per_s: null, dtype: "float16", free_disk_bytes: 10 ** 10,
      hook_points: ["blocks.0.resid_post"], memory: { model: 1000, ram_needed: 2000,
        vram_needed: null }, model: { precision_used: "fp32" },
      plan: { tokens: 100, rows: 100, sequences: 2, batches: 1 }, notes: [note],
      projected: { bound: "compute", compute_s: 1, disk_s: 0.1, total_s: 1 }, shard_rows: 100,
      shards: 1, widths: { "blocks.0.resid_post": 8 } } as unknown as ExtractionPreflight;
    renderWithProviders(<PreflightPanel report={report} />);
    expect(screen.getByTestId("preflight-note")).toHaveTextContent(note);
  });

  it("test_the_column_name_choice_shows_one_of_the_stores_own_hook_points", () => {
    // a UI tester: it said "hook points (blocks.3.resid_post)" for every store, one without it too
    renderWithProviders(<ExtractionResults extraction={complete({
      spec: { hook_points_expanded: ["blocks.29.mlp_out", "blocks.29.resid_post"] } })} />,
    { queryClient: seededClient() });
    const choice = screen.getByRole("option", { name: /^hook points/ });
    expect(choice).toHaveTextContent(/^hook points \(blocks\.29\.mlp_out\)$/);
    expect(screen.queryByText(/blocks\.3\.resid_post/)).toBeNull();
  });

  it("test_the_module_path_example_is_a_module_of_the_stores_own_points", () => {
    // blocks.0.resid_post first: the 2-layer model's model.layers.0, never "model.layers.3"
    const view = renderWithProviders(<ExtractionResults extraction={complete()} />,
      { queryClient: seededClient() });
    const option = () => screen.getByRole("option", { name: /^module paths/ });
    expect(option()).toHaveTextContent(/^module paths \(model\.layers\.0\)$/);
    view.unmount();
    // a first point no module outputs: the example is a stored point that has one
    const mlpFirst = complete({ spec: { hook_points_expanded: ["blocks.1.resid_pre",
      "blocks.1.mlp_out"] } });
    const other = renderWithProviders(<ExtractionResults extraction={mlpFirst} />,
      { queryClient: seededClient() });
    expect(option()).toHaveTextContent(/^module paths \(model\.layers\.1\.mlp\)$/);
    other.unmount();
    // no stored point has one: no example at all
    renderWithProviders(<ExtractionResults extraction={complete({ spec: {
      hook_points_expanded: ["blocks.1.resid_pre"] } })} />, { queryClient: seededClient() });
    expect(option()).toHaveTextContent(/^module paths$/);
  });

  it("test_leave_out_first_positions_is_off_where_the_store_holds_no_first_position", () => {
    const box = () => screen.getByLabelText("Leave out first positions");
    // every_k with k=4 keeps positions 3, 7, ...: never position 0
    const view = renderWithProviders(<ExtractionResults extraction={complete({ spec: {
      hook_points_expanded: ["blocks.1.resid_post"], positions: "every_k", every_k: 4 } })} />,
      { queryClient: seededClient() });
    expect(box()).toBeDisabled();
    expect(screen.getByTestId("export-no-first-rows")).toHaveTextContent(
      "Leave out first positions is off: this store holds no row at position 0 (positions every_k, k=4");
    view.unmount();
    // exclude_bos: the statistics' first-position group is empty
    const stats = makeStats("non_bos");
    for (const summary of Object.values(stats.hooks)) {
      const groups = (summary as { groups: Record<string, { rows: number }> }).groups;
      groups.bos = { ...groups.bos!, rows: 0 };
    }
    const queryClient = seededClient();
    queryClient.setQueryData(extractionKeys.stats(7, "non_bos"), stats);
    const excluded = renderWithProviders(<ExtractionResults extraction={complete({ spec: {
      hook_points_expanded: ["blocks.1.resid_post"], positions: "exclude_bos" } })} />,
      { queryClient });
    expect(box()).toBeDisabled();
    expect(screen.getByTestId("export-no-first-rows")).toHaveTextContent(
      "(positions exclude_bos): there is nothing to leave out");
    excluded.unmount();
    // a store of every position: offered
    renderWithProviders(<ExtractionResults extraction={complete()} />,
      { queryClient: seededClient() });
    expect(box()).toBeEnabled();
    expect(screen.queryByTestId("export-no-first-rows")).toBeNull();
  });
});
