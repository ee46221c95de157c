import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createTestQueryClient, renderWithProviders } from "@/test/render";
import { datasetKeys } from "../api/dataset-keys";
import type { Dataset } from "../types";
import { DatasetCard } from "./dataset-card";

function makeDataset(overrides: Partial<Dataset> = {}): Dataset {
  return {
    id: 3, name: "quotes", source: "upload", status: "failed", bytes: 10, rows: null,
    commit_sha: null, config_name: null, repo_id: null, revision: null, split: null, path: null,
    created_at: "2026-01-01T12:00:00Z", updated_at: "2026-01-01T12:00:00Z", error_message: null,
    files: [], info: {}, job: null, job_id: null, stats: null, text_column: null, ...overrides,
  };
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body),
  { status, headers: { "Content-Type": "application/json" } });

describe("DatasetCard delete", () => {
  it("test_delete_and_forced_delete_ask_first_and_refresh_the_extractions_and_jobs_lists", async () => {
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(datasetKeys.detail(3), makeDataset());
    const extractionList = ["extractions", "list", { status: "" }];
    const jobList = ["jobs", "list", { states: [], kind: null, limit: 50, offset: 0 }];
    const pickers = ["extractions", "pickers", "datasets"];
    for (const key of [extractionList, jobList, pickers])
      queryClient.setQueryData(key, { total: 1, items: [{ id: 11 }] });
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (url) => {
      if (String(url).includes("force=true")) return new Response(null, { status: 204 });
      return json({ error: { code: "dataset_in_use", message: "dataset 3 is used by extraction 11",
        details: {} } }, 409);
    });
    const confirmSpy = vi.spyOn(window, "confirm").mockReturnValue(false);
    const onDeleted = vi.fn();
    renderWithProviders(<DatasetCard datasetId={3} onDeleted={onDeleted} />, { queryClient });

    // declined: nothing is asked of the server
    await userEvent.click(screen.getByRole("button", { name: "Delete" }));
    expect(confirmSpy).toHaveBeenLastCalledWith(expect.stringContaining("Delete dataset “quotes”"));
    expect(fetchSpy).not.toHaveBeenCalled();

    confirmSpy.mockReturnValue(true);
    await userEvent.click(screen.getByRole("button", { name: "Delete" }));
    const forced = await screen.findByRole("button",
      { name: "Delete with its tokenizations and extractions" });
    expect(fetchSpy).toHaveBeenCalledTimes(1);

    confirmSpy.mockReturnValue(false);
    await userEvent.click(forced);
    expect(confirmSpy).toHaveBeenLastCalledWith(
      expect.stringContaining("with all its tokenizations and extractions"));
    expect(fetchSpy).toHaveBeenCalledTimes(1);

    confirmSpy.mockReturnValue(true);
    await userEvent.click(forced);
    await waitFor(() => expect(onDeleted).toHaveBeenCalled());
    expect(String(fetchSpy.mock.calls[1]?.[0])).toContain("force=true");
    // the extractions (and jobs, and the extraction form's pickers) it took with it are not kept
    for (const key of [extractionList, jobList, pickers])
      expect(queryClient.getQueryState(key)?.isInvalidated, JSON.stringify(key)).toBe(true);
    confirmSpy.mockRestore();
    fetchSpy.mockRestore();
  });
});

describe("DatasetCard rename", () => {
  it("test_rename_focuses_the_field_enter_saves_and_escape_cancels", async () => {
    // found by a tester: the field had no focus, Enter did nothing and only Save closed it
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(datasetKeys.detail(3), makeDataset({ status: "ready" }));
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (_url, init) =>
      init?.method === "PATCH" ? json(makeDataset({ status: "ready", name: "quotes v2" }))
        : json({ total: 0, items: [] }));  // the card's rows and tokenizations
    const patches = () => fetchSpy.mock.calls.filter(([, init]) => init?.method === "PATCH");
    renderWithProviders(<DatasetCard datasetId={3} onDeleted={vi.fn()} />, { queryClient });
    await userEvent.click(screen.getByRole("button", { name: "Rename" }));
    const field = screen.getByRole("textbox", { name: "New name" });
    expect(field).toHaveFocus();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("textbox", { name: "New name" })).toBeNull();
    expect(patches()).toHaveLength(0);

    await userEvent.click(screen.getByRole("button", { name: "Rename" }));
    await userEvent.clear(screen.getByRole("textbox", { name: "New name" }));
    await userEvent.keyboard("quotes v2{Enter}");
    await waitFor(() => expect(patches()).toHaveLength(1));
    const [url, init] = patches()[0] ?? [];
    expect(String(url)).toMatch(/\/datasets\/3$/);
    expect(init?.method).toBe("PATCH");
    expect(JSON.parse(String(init?.body))).toEqual({ name: "quotes v2" });
    await waitFor(() => expect(screen.queryByRole("textbox", { name: "New name" })).toBeNull());
    fetchSpy.mockRestore();
  });
});
