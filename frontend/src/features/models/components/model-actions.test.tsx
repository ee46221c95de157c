import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createTestQueryClient, renderWithProviders } from "@/test/render";
import { modelKeys } from "../api/model-keys";
import { makeModel, makeModelJob } from "../lib/model-factory";
import { ModelActions } from "./model-actions";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body),
  { status, headers: { "Content-Type": "application/json" } });

describe("ModelActions delete", () => {
  it("test_delete_and_forced_delete_ask_first_and_refresh_the_extractions_and_jobs_lists", async () => {
    const model = makeModel({ status: "ready", job: makeModelJob({ state: "succeeded" }) });
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(modelKeys.list(""), { total: 1, items: [model] });
    const extractionList = ["extractions", "list", { status: "" }];
    const jobList = ["jobs", "list", { states: [], kind: null, limit: 50, offset: 0 }];
    const tokenizations = ["datasets", "tokenizations", 4];
    for (const key of [extractionList, jobList, tokenizations])
      queryClient.setQueryData(key, { total: 1, items: [{ id: 11 }] });
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (url) => {
      if (String(url).includes("force=true")) return new Response(null, { status: 204 });
      return json({ error: { code: "model_in_use", message: "model 1 is used by extraction 11",
        details: {} } }, 409);
    });
    const confirmSpy = vi.spyOn(window, "confirm").mockReturnValue(false);
    renderWithProviders(<ModelActions model={model} />, { queryClient });

    await userEvent.click(screen.getByRole("button", { name: "Delete" }));
    expect(confirmSpy).toHaveBeenLastCalledWith(expect.stringContaining("Delete model “org/tiny”"));
    expect(fetchSpy).not.toHaveBeenCalled();

    confirmSpy.mockReturnValue(true);
    await userEvent.click(screen.getByRole("button", { name: "Delete" }));
    const forced = await screen.findByRole("button", { name: "Delete with its extractions" });
    expect(fetchSpy).toHaveBeenCalledTimes(1);

    confirmSpy.mockReturnValue(false);
    await userEvent.click(forced);
    expect(confirmSpy).toHaveBeenLastCalledWith(expect.stringContaining("with all its extractions"));
    expect(fetchSpy).toHaveBeenCalledTimes(1);

    confirmSpy.mockReturnValue(true);
    await userEvent.click(forced);
    await waitFor(() => expect(fetchSpy).toHaveBeenCalledTimes(2));
    expect(String(fetchSpy.mock.calls[1]?.[0])).toContain("force=true");
    await waitFor(() => expect(queryClient.getQueryData(modelKeys.list(""))).toEqual(
      { total: 0, items: [] }));
    for (const key of [extractionList, jobList, tokenizations])
      expect(queryClient.getQueryState(key)?.isInvalidated, JSON.stringify(key)).toBe(true);
    confirmSpy.mockRestore();
    fetchSpy.mockRestore();
  });
});
