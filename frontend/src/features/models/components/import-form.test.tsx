import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createTestQueryClient, renderWithProviders } from "@/test/render";
import { modelsQueryOptions } from "../api/get-models";
import { makeModel } from "../lib/model-factory";
import type { Model } from "../types";
import { ImportForm } from "./import-form";

/** A client whose model list (unsearched) holds `models`. */
function listing(models: Model[]) {
  const queryClient = createTestQueryClient();
  queryClient.setQueryData(modelsQueryOptions("").queryKey, { items: models, total: models.length });
  return queryClient;
}

describe("ImportForm", () => {
  it("test_importing_a_model_already_there_says_so_and_that_the_precision_was_not_applied",
    async () => {
      // found by a tester: the server answered with the existing model and nothing showed
      const existing = makeModel({ id: 4, name: "renamed-again", status: "ready",
        precision_requested: "fp16", precision_used: "fp16" });
      const spy = vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response(
        JSON.stringify(existing), { status: 200, headers: { "Content-Type": "application/json" } }));
      renderWithProviders(<ImportForm />, { queryClient: listing([existing]) });
      await userEvent.type(screen.getByLabelText("Folder, .safetensors or .gguf path"), "/m/gpt2");
      await userEvent.click(screen.getByRole("button", { name: "Import" }));
      const note = await screen.findByTestId("import-existing");
      expect(note).toHaveTextContent("Already imported as renamed-again (#4, fp16, ready)");
      expect(note).toHaveTextContent("fp32 was not applied");
      spy.mockRestore();
    });

  it("test_the_bundled_button_is_secondary_and_says_imported_once_the_model_exists", () => {
    const view = renderWithProviders(<ImportForm />, { queryClient: listing([]) });
    const button = () => screen.getByRole("button", { name: "Import bundled SmolLM2" });
    expect(button()).toHaveClass("button--primary");
    expect(screen.queryByTestId("bundled-imported")).toBeNull();
    view.unmount();
    const bundled = makeModel({ id: 3, name: "SmolLM2-135M-Instruct", source: "bundled",
      status: "ready" });
    renderWithProviders(<ImportForm />, { queryClient: listing([bundled]) });
    expect(button()).not.toHaveClass("button--primary");
    expect(screen.getByTestId("bundled-imported")).toHaveTextContent(
      "The bundled SmolLM2 is imported as SmolLM2-135M-Instruct (#3, ready)");
  });

  it("test_a_queued_import_clears_the_path_field", async () => {
    const queued = makeModel({ id: 5, name: "gpt2", source: "local", status: "queued" });
    const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response(
      JSON.stringify(queued), { status: 201, headers: { "Content-Type": "application/json" } }));
    renderWithProviders(<ImportForm />, { queryClient: listing([]) });
    const field = screen.getByLabelText("Folder, .safetensors or .gguf path");
    await userEvent.type(field, "/m/gpt2");
    await userEvent.click(screen.getByRole("button", { name: "Import" }));
    await waitFor(() => expect(field).toHaveValue(""));
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
  });
});
