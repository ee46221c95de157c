import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createTestQueryClient, renderWithProviders } from "@/test/render";
import { datasetKeys } from "../api/dataset-keys";
import { TokenizationForm } from "./tokenization-form";

describe("TokenizationForm", () => {
  it("test_policy_summary_follows_the_form_after_a_preview_not_the_old_preview", async () => {
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(datasetKeys.tokenizerModels(), { total: 1, items: [
      { id: 1, name: "tiny", key: "org/tiny@abc" }] });
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (_url, init) => {
      const asked = JSON.parse(String(init?.body));
      const policy = { ...asked.policy, add_bos: true, bos_source: "tokenizer default",
        tokenizer: { bos_token: "<s>", eos_token: "</s>" } };
      return new Response(JSON.stringify({ policy, rows: [] }),
        { status: 200, headers: { "Content-Type": "application/json" } });
    });
    renderWithProviders(<TokenizationForm datasetId={4} />, { queryClient });
    // the model by name and id, its key (for a local model "local:<sha256>") on hover
    expect(screen.getByRole("option", { name: "tiny · #1" })).toHaveAttribute("title", "org/tiny@abc");
    await userEvent.click(screen.getByRole("button", { name: "Preview tokens" }));
    expect(await screen.findByText(/BOS: <s> prepended/)).toBeInTheDocument();
    expect(screen.getByLabelText("Policy")).toHaveTextContent("cut at 1024 tokens");
    await userEvent.clear(screen.getByLabelText("Max length"));
    await userEvent.type(screen.getByLabelText("Max length"), "256");
    await userEvent.selectOptions(screen.getByLabelText("Long rows"), "pack");
    const summary = screen.getByLabelText("Policy");
    expect(summary).toHaveTextContent("full windows of 256 tokens");
    expect(summary).not.toHaveTextContent("1024");
    expect(summary).not.toHaveTextContent("<s> prepended"); // the old preview's resolution
    await userEvent.click(screen.getByRole("button", { name: "Preview tokens" }));
    expect(await screen.findByText(/BOS: <s> prepended/)).toBeInTheDocument();
    expect(screen.getByLabelText("Policy")).toHaveTextContent("full windows of 256 tokens");
    fetchSpy.mockRestore();
  });
});
