import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderWithProviders } from "@/test/render";
import { makeModel } from "../lib/model-factory";
import { ImportForm } from "./import-form";

describe("ImportForm", () => {
  it("test_importing_a_model_already_there_says_so_and_that_the_precision_was_not_applied",
    async () => {
      // found by a tester: the server answered with the existing model and nothing showed
      const existing = makeModel({ id: 4, name: "renamed-again", status: "ready",
        precision_requested: "fp16", precision_used: "fp16" });
      const spy = vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response(
        JSON.stringify(existing), { status: 200, headers: { "Content-Type": "application/json" } }));
      renderWithProviders(<ImportForm />);
      await userEvent.type(screen.getByLabelText("Folder, .safetensors or .gguf path"), "/m/gpt2");
      await userEvent.click(screen.getByRole("button", { name: "Import" }));
      const note = await screen.findByTestId("import-existing");
      expect(note).toHaveTextContent("Already imported as renamed-again (#4, fp16, ready)");
      expect(note).toHaveTextContent("fp32 was not applied");
      spy.mockRestore();
    });
});
