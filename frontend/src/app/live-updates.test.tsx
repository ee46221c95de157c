import { act, screen, within } from "@testing-library/react";
import type { JobList, ServerMessage, SystemStatus } from "@/api/types";
import { DEFAULT_PAGE_SIZE, jobKeys } from "@/features/jobs/api/job-keys";
import { ExtractionsPage } from "@/features/extractions";
import { makeExtraction } from "@/features/extractions/lib/extraction-factory";
import { JobsPage } from "@/features/jobs";
import { systemKeys } from "@/features/system/api/get-system";
import { useMetricsHistoryStore } from "@/features/system/stores/metrics-history-store";
import { makeJob } from "@/test/job-factory";
import { createTestQueryClient, renderWithProviders } from "@/test/render";
import { handleServerMessage } from "./live-updates";

const firstPage = jobKeys.list({ states: [], kind: null, limit: DEFAULT_PAGE_SIZE, offset: 0 });

/** Sends one server message; TanStack Query notifies subscribers on a later tick. */
async function push(queryClient: ReturnType<typeof createTestQueryClient>, message: ServerMessage) {
  await act(async () => {
    handleServerMessage(queryClient, message);
    await new Promise((resolve) => setTimeout(resolve, 0));
  });
}

function renderJobsWith(page: JobList) {
  const queryClient = createTestQueryClient();
  queryClient.setQueryData(firstPage, page);
  renderWithProviders(<JobsPage />, { queryClient, path: "/jobs" });
  return queryClient;
}

describe("live updates into the jobs table", () => {
  it("test_job_updated_event_moves_progress_bar", async () => {
    const running = makeJob({ id: 3, state: "running", progress: 0.1, done: 4, total: 40, unit: "passes" });
    const queryClient = renderJobsWith({ items: [running], total: 1 });
    const row = screen.getByTestId("job-row-3");
    expect(within(row).getByRole("progressbar")).toHaveAttribute("aria-valuenow", "10");

    await push(queryClient, {
      type: "job.updated",
      job: { ...running, progress: 0.5, done: 20, updated_at: "2026-01-01T12:00:05Z" },
    });
    expect(within(row).getByRole("progressbar")).toHaveAttribute("aria-valuenow", "50");
    expect(within(row).getByTestId("job-progress-counts")).toHaveTextContent("20 / 40 passes");
  });

  it("test_job_updated_event_changes_state_and_buttons", async () => {
    const running = makeJob({ id: 4, state: "running", progress: 0.3 });
    const queryClient = renderJobsWith({ items: [running], total: 1 });
    await push(queryClient, {
      type: "job.updated",
      job: { ...running, state: "cancelled", updated_at: "2026-01-01T12:01:00Z" },
    });
    const row = screen.getByTestId("job-row-4");
    expect(within(row).getByTestId("job-state")).toHaveAttribute("data-state", "cancelled");
    expect(within(row).getByRole("button", { name: "Resume" })).toBeInTheDocument();
    expect(within(row).queryByRole("button", { name: "Cancel" })).toBeNull();
  });

  it("test_new_job_event_adds_row_on_first_page", async () => {
    const queryClient = renderJobsWith({ items: [makeJob({ id: 1, state: "succeeded" })], total: 1 });
    await push(queryClient, { type: "job.updated", job: makeJob({ id: 2 }) });
    const rows = screen.getAllByTestId(/^job-row-/).map((row) => row.dataset.jobId);
    expect(rows).toEqual(["2", "1"]);
    expect(screen.getByText("1–2 of 2")).toBeInTheDocument();
  });

  it("test_snapshot_on_reconnect_updates_rows_and_refetches_once_without_polling", async () => {
    // pitfall: live state lost on refresh / reconnect, or a polling loop beside the socket
    const running = makeJob({ id: 6, state: "running", progress: 0.2, done: 2, total: 10 });
    const queryClient = renderJobsWith({ items: [running], total: 1 });
    const invalidate = vi.spyOn(queryClient, "invalidateQueries");
    await push(queryClient, {
      type: "snapshot",
      jobs: [{ ...running, progress: 0.7, done: 7, updated_at: "2026-01-01T12:00:09Z" }],
    });
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "70");
    expect(invalidate).toHaveBeenCalledTimes(1); // finished-while-away jobs: one refetch
    const polling = queryClient.getQueryCache().getAll()
      .filter((query) => query.options && "refetchInterval" in query.options
        && query.options.refetchInterval);
    expect(polling).toEqual([]);
  });

  it("test_out_of_order_event_is_ignored", async () => {
    const job = makeJob({ id: 5, state: "running", progress: 0.8, updated_at: "2026-01-01T12:00:10Z" });
    const queryClient = renderJobsWith({ items: [job], total: 1 });
    await push(queryClient, {
      type: "job.updated",
      job: { ...job, progress: 0.2, updated_at: "2026-01-01T12:00:01Z" },
    });
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "80");
  });

  it("test_job_deleted_event_removes_row", async () => {
    const queryClient = renderJobsWith({
      items: [makeJob({ id: 9, state: "succeeded" }), makeJob({ id: 8, state: "failed" })],
      total: 2,
    });
    await push(queryClient, { type: "job.deleted", job_id: 9 });
    expect(screen.queryByTestId("job-row-9")).toBeNull();
    expect(screen.getByTestId("job-row-8")).toBeInTheDocument();
  });
});

describe("live updates into system metrics", () => {
  it("test_system_metrics_event_updates_cache_and_history", () => {
    useMetricsHistoryStore.getState().clear();
    const queryClient = createTestQueryClient();
    const sample = (second: number, cpu: number): SystemStatus => ({
      timestamp: `2026-01-01T12:00:${String(second).padStart(2, "0")}Z`,
      host: "api-a",
      cpu: { percent: cpu, count: 8 },
      memory: { total: 16, available: 8, used: 8, percent: 50 },
      disk: { path: "/data", total: 100, used: 40, free: 60, percent: 40 },
      gpus: [],
    });
    handleServerMessage(queryClient, { type: "system.metrics", host: "api-a", system: sample(2, 10) });
    handleServerMessage(queryClient, { type: "system.metrics", host: "api-a", system: sample(4, 30) });
    handleServerMessage(queryClient, { type: "system.metrics", host: "api-a", system: sample(4, 99) }); // duplicate
    expect(queryClient.getQueryData<SystemStatus>(systemKeys.current)?.cpu.percent).toBe(99);
    expect(useMetricsHistoryStore.getState().samples.map((s) => s.cpu.percent)).toEqual([10, 30]);
  });
});

describe("live updates into the lists of rows made elsewhere", () => {
  const extractionList = ["extractions", "list", { status: "" }] as const;
  const datasetList = ["datasets", "list", { offset: 0, limit: 20 }] as const;

  function seeded() {
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(extractionList, { total: 0, items: [] });
    queryClient.setQueryData(datasetList, { total: 0, items: [] });
    return queryClient;
  }
  const invalidated = (queryClient: ReturnType<typeof createTestQueryClient>, key: readonly unknown[]) =>
    queryClient.getQueryState(key)?.isInvalidated ?? false;

  it("test_a_job_made_elsewhere_marks_its_resources_lists_stale", () => {
    const queryClient = seeded();
    handleServerMessage(queryClient, { type: "job.updated",
      job: makeJob({ id: 20, kind: "extract", state: "queued" }) });
    expect(invalidated(queryClient, extractionList)).toBe(true);
    expect(invalidated(queryClient, datasetList)).toBe(false);
    handleServerMessage(queryClient, { type: "job.updated",
      job: makeJob({ id: 21, kind: "dataset_import", state: "succeeded" }) });
    expect(invalidated(queryClient, datasetList)).toBe(true);
  });

  it("test_progress_events_do_not_refetch_lists_but_state_changes_do", () => {
    const queryClient = seeded();
    const job = makeJob({ id: 22, kind: "extract", state: "running", progress: 0.1 });
    handleServerMessage(queryClient, { type: "job.updated", job });
    const invalidate = vi.spyOn(queryClient, "invalidateQueries");
    for (let i = 2; i < 50; i += 1) {
      handleServerMessage(queryClient, { type: "job.updated", job: { ...job, progress: i / 50 } });
    }
    expect(invalidate).not.toHaveBeenCalled();
    handleServerMessage(queryClient, { type: "job.updated", job: { ...job, state: "succeeded" } });
    expect(invalidate).toHaveBeenCalledWith({ queryKey: ["extractions", "list"] });
  });

  it("test_a_deleted_job_marks_every_resource_list_stale", () => {
    // e.g. a model deleted in another tab: its extractions' jobs go with it
    const queryClient = seeded();
    handleServerMessage(queryClient, { type: "job.deleted", job_id: 99 });
    expect(invalidated(queryClient, extractionList)).toBe(true);
    expect(invalidated(queryClient, datasetList)).toBe(true);
  });

  it("test_an_extraction_made_over_the_api_appears_in_the_open_list", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response(
      JSON.stringify({ total: 1, items: [makeExtraction({ id: 12, name: "made by the API" })] }),
      { status: 200, headers: { "Content-Type": "application/json" } }));
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(["extractions", "list", { status: "" }], { total: 0, items: [] });
    queryClient.setQueryData(["extractions", "pickers", "models"], { total: 0, items: [] });
    queryClient.setQueryData(["extractions", "pickers", "datasets"], { total: 0, items: [] });
    renderWithProviders(<ExtractionsPage />, { queryClient });
    expect(screen.queryByText(/made by the API/)).toBeNull();
    await push(queryClient, { type: "job.updated",
      job: makeJob({ id: 120, kind: "extract", state: "queued" }) });
    expect(await screen.findByText(/made by the API/)).toBeInTheDocument();
    fetchSpy.mockRestore();
  });
});
