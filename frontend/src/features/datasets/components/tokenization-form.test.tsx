import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createTestQueryClient, renderWithProviders } from "@/test/render";
import { datasetKeys } from "../api/dataset-keys";
import { TokenizationForm } from "./tokenization-form";

const NO_TOKENIZATIONS = { total: 0, items: [] };
const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

/** A stored tokenization as the server lists it: made with `key` under `requested`. */
function tokenization(id: number, modelId: number, key: string, status: string,
  requested: Record<string, unknown>) {
  return { id, dataset_id: 4, model_id: modelId, tokenizer_key: key,
    policy: { ...requested, add_bos: true, requested }, policy_hash: `h${id}`, status,
    path: null, counts: null, stats: null, error_message: null, job_id: id + 100, job: null,
    created_at: "2026-12-07T10:00:00Z", updated_at: "2026-12-07T10:00:00Z" };
}

/** Two models of one tokenizer (llama-a, llama-b) and one of another (gpt2-c). */
function twinModels() {
  const queryClient = createTestQueryClient();
  queryClient.setQueryData(datasetKeys.tokenizerModels(), { total: 3, items: [
    { id: 1, name: "llama-a", key: "org/a@1", positions: 256 },
    { id: 2, name: "llama-b", key: "org/b@1", positions: 256 },
    { id: 3, name: "gpt2-c", key: "org/c@1", positions: 1024 }] });
  return queryClient;
}

const POLICY_256 = { max_length: 256, mode: "truncate", add_bos: null, min_tokens: 1 };

describe("TokenizationForm", () => {
  it("test_policy_summary_follows_the_form_after_a_preview_not_the_old_preview", async () => {
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(datasetKeys.tokenizerModels(), { total: 1, items: [
      { id: 1, name: "tiny", key: "org/tiny@abc" }] });
    queryClient.setQueryData(datasetKeys.usableTokenizations(4, 1), NO_TOKENIZATIONS);
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
    for (const id of [1, 2]) {
      queryClient.setQueryData(datasetKeys.usableTokenizations(4, id), NO_TOKENIZATIONS);
    }
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

  it("test_a_twin_models_tokenization_under_the_forms_policy_is_named_instead_of_a_duplicate", async () => {
    // the form offered "Tokenize" for llama-b though llama-a's tokenization (identical
    // tokenizer files, same policy) serves it: the server queued a second, redundant job
    const queryClient = twinModels();
    queryClient.setQueryData(datasetKeys.usableTokenizations(4, 1), { total: 2, items: [
      tokenization(6, 1, "org/a@1", "failed", { ...POLICY_256, max_length: 64 }),
      tokenization(5, 1, "org/a@1", "ready", POLICY_256)] });
    queryClient.setQueryData(datasetKeys.usableTokenizations(4, 2), { total: 2, items: [
      tokenization(6, 1, "org/a@1", "failed", { ...POLICY_256, max_length: 64 }),
      tokenization(5, 1, "org/a@1", "ready", POLICY_256)] });
    queryClient.setQueryData(datasetKeys.usableTokenizations(4, 3), NO_TOKENIZATIONS);
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    renderWithProviders(<TokenizationForm datasetId={4} />, { queryClient });
    const tokenize = screen.getByRole("button", { name: "Tokenize" });
    // llama-a: its own tokenization
    expect(screen.getByRole("status", { name: "Already tokenized" })).toHaveTextContent(
      "Tokenization #5 (ready) has this policy with this model's tokenizer. Use tokenization #5, "
      + "or change the policy to make another.");
    expect(tokenize).toBeDisabled();
    await userEvent.selectOptions(screen.getByLabelText("Tokenizer of model"), "llama-b · #2");
    expect(screen.getByRole("status", { name: "Already tokenized" })).toHaveTextContent(
      "Tokenization #5 (ready) has this policy, made with the tokenizer of llama-a · #1: its "
      + "tokenizer files are identical to llama-b's, so llama-b uses it. Use tokenization #5, or "
      + "change the policy to make another.");
    expect(tokenize).toBeDisabled();
    await userEvent.type(screen.getByLabelText("Max length"), "{Enter}"); // nor by the keyboard
    // another policy: nothing to use, so it may be made
    await userEvent.selectOptions(screen.getByLabelText("Long rows"), "pack");
    expect(screen.queryByRole("status", { name: "Already tokenized" })).toBeNull();
    expect(tokenize).toBeEnabled();
    await userEvent.selectOptions(screen.getByLabelText("Long rows"), "truncate");
    // the other model's failed one at 64 serves nothing: llama-b may make its own
    const field = screen.getByLabelText("Max length");
    await userEvent.clear(field);
    await userEvent.type(field, "64");
    expect(screen.queryByRole("status", { name: "Already tokenized" })).toBeNull();
    expect(tokenize).toBeEnabled();
    // llama-a's own failed one at 64 is still its duplicate (the server refuses it: retry that)
    await userEvent.selectOptions(screen.getByLabelText("Tokenizer of model"), "llama-a · #1");
    expect(screen.getByRole("status", { name: "Already tokenized" })).toHaveTextContent(
      "Tokenization #6 (failed) has this policy with this model's tokenizer");
    // gpt2-c, another tokenizer: nothing is usable
    await userEvent.selectOptions(screen.getByLabelText("Tokenizer of model"), "gpt2-c · #3");
    expect(screen.queryByRole("status", { name: "Already tokenized" })).toBeNull();
    expect(tokenize).toBeEnabled();
    expect(fetchSpy).not.toHaveBeenCalled();
    fetchSpy.mockRestore();
  });

  it("test_a_duplicate_the_server_refuses_shows_the_tokenization_it_names", async () => {
    // made a moment ago in another tab: the form's list did not have it yet
    const queryClient = twinModels();
    queryClient.setQueryData(datasetKeys.usableTokenizations(4, 1), NO_TOKENIZATIONS);
    const made = tokenization(9, 2, "org/b@1", "queued", POLICY_256);
    const posted: unknown[] = [];
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (url, init) => {
      if (init?.method === "POST") {
        posted.push(JSON.parse(String(init.body)));
        return json({ error: { code: "tokenization_exists",
          message: "this dataset is already tokenized with that policy by model 2 (org/b@1): "
            + "tokenization 9, queued; model 1 (org/a@1) may use it, as their tokenizer files "
            + "are identical: use tokenization 9, or delete it first to tokenize again with "
            + "model 1",
          details: { tokenization_id: 9, status: "queued", maker_model_id: 2, model_id: 1 } } },
        409);
      }
      expect(String(url)).toContain("/datasets/4/tokenizations?usable_with_model=1");
      return json({ total: 1, items: [made] });
    });
    renderWithProviders(<TokenizationForm datasetId={4} />, { queryClient });
    await userEvent.click(screen.getByRole("button", { name: "Tokenize" }));
    expect(await screen.findByRole("status", { name: "Already tokenized" })).toHaveTextContent(
      "Tokenization #9 (queued) has this policy, made with the tokenizer of llama-b · #2: its "
      + "tokenizer files are identical to llama-a's, so llama-a uses it.");
    expect(posted).toEqual([{ model_id: 1, policy: POLICY_256, batch_rows: 1024 }]);
    expect(screen.queryByText("Not started:")).toBeNull();
    expect(screen.getByRole("button", { name: "Tokenize" })).toBeDisabled();
    fetchSpy.mockRestore();
  });

  it("test_a_duplicate_refusal_whose_tokenization_cannot_be_listed_says_already_tokenized", async () => {
    const queryClient = twinModels();
    queryClient.setQueryData(datasetKeys.usableTokenizations(4, 1), NO_TOKENIZATIONS);
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (_url, init) =>
      init?.method === "POST"
        ? json({ error: { code: "tokenization_exists", message: "already tokenized "
          + "(tokenization 9, queued): use tokenization 9", details: { tokenization_id: 9 } } },
        409)
        : json({ error: { code: "internal", message: "boom", details: {} } }, 500));
    renderWithProviders(<TokenizationForm datasetId={4} />, { queryClient });
    await userEvent.click(screen.getByRole("button", { name: "Tokenize" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Already tokenized:");
    expect(alert).toHaveTextContent("use tokenization 9");
    expect(alert).toHaveTextContent("tokenization_exists");
    fetchSpy.mockRestore();
  });
});
