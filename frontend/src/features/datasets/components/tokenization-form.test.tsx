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

  it("test_max_length_starts_at_the_models_positions_and_refuses_more_before_a_request", async () => {
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(datasetKeys.tokenizerModels(), { total: 2, items: [
      { id: 1, name: "tiny", key: "org/tiny@abc", positions: 256,
        positions_source: "max_position_embeddings in its config.json" },
      { id: 2, name: "long", key: "org/long@abc", positions: 4096, positions_source: null }] });
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    renderWithProviders(<TokenizationForm datasetId={4} />, { queryClient });
    const field = screen.getByLabelText("Max length");
    expect(field).toHaveValue(256); // not the default 1024 the server would refuse
    expect(screen.getByText("model has 256 positions")).toHaveAttribute(
      "title", "max_position_embeddings in its config.json");
    expect(screen.getByLabelText("Policy")).toHaveTextContent("cut at 256 tokens");
    await userEvent.selectOptions(screen.getByLabelText("Tokenizer of model"), "long · #2");
    expect(field).toHaveValue(1024);
    expect(screen.getByText("model has 4,096 positions")).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText("Tokenizer of model"), "tiny · #1");
    await userEvent.clear(field);
    await userEvent.type(field, "300");
    expect(screen.getByRole("alert")).toHaveTextContent(
      "Max length is more than the model's 256 positions");
    expect(field).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByRole("button", { name: "Tokenize" })).toBeDisabled();
    expect(screen.getByRole("button", { name: "Preview tokens" })).toBeDisabled();
    await userEvent.type(field, "{Enter}"); // a submit by the keyboard sends nothing either
    expect(fetchSpy).not.toHaveBeenCalled();
    await userEvent.clear(field);
    await userEvent.type(field, "200");
    expect(screen.queryByRole("alert")).toBeNull();
    expect(screen.getByRole("button", { name: "Tokenize" })).toBeEnabled();
    fetchSpy.mockRestore();
  });
});
