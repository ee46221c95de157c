import { screen } from "@testing-library/react";
import { createTestQueryClient, renderWithProviders } from "@/test/render";
import { datasetKeys } from "../api/dataset-keys";
import type { Tokenization } from "../types";
import { TokenizationsList } from "./tokenizations-list";

const KEY = `local:${"ab".repeat(32)}`;

function makeTokenization(overrides: Partial<Tokenization> = {}): Tokenization {
  return {
    id: 7, dataset_id: 4, model_id: 2, tokenizer_key: KEY, status: "ready", path: "t/7",
    policy: { max_length: 8, mode: "truncate", add_bos: true, min_tokens: 1 }, policy_hash: "h",
    counts: { sequences: 3, tokens: 24, truncated_sequences: 1, truncated_tokens: 1,
      dropped_rows: 0, tail_tokens_dropped: 0 },
    stats: { unique_tokens: 9, top_tokens: [
      { id: 262, count: 1234, piece: "Ġthe", text: " the" },
      { id: 198, count: 5, piece: "Ċ", text: "\n" },
      { id: 40, count: 2, piece: "Ġa" },  // made before texts were stored: the piece as it is
    ] },
    error_message: null, job_id: null, job: null,
    created_at: "2026-01-01T12:00:00Z", updated_at: "2026-01-01T12:00:00Z", ...overrides,
  };
}

function renderList(models: { id: number; name: string; key: string }[]) {
  const queryClient = createTestQueryClient();
  queryClient.setQueryData(datasetKeys.tokenizations(4), { total: 1, items: [makeTokenization()] });
  queryClient.setQueryData(datasetKeys.tokenizerModels(), { total: models.length, items: models });
  renderWithProviders(<TokenizationsList datasetId={4} />, { queryClient });
}

describe("TokenizationsList", () => {
  it("test_the_tokenizer_is_its_models_name_with_the_key_on_hover", () => {
    // found by a tester: the card showed the whole "local:<sha256>" key
    renderList([{ id: 2, name: "SmolLM2-135M-Instruct", key: KEY }]);
    expect(screen.getByText("tokenizer of SmolLM2-135M-Instruct")).toHaveAttribute("title", KEY);
    expect(screen.queryByText(KEY)).toBeNull();
  });

  it("test_the_key_is_shown_while_the_model_is_not_known", () => {
    renderList([]);
    expect(screen.getByText(KEY)).toBeInTheDocument();
  });

  it("test_top_tokens_read_as_text_with_the_raw_piece_on_hover_and_counts_in_the_singular", () => {
    renderList([]);
    const the = screen.getByText("␣the ×1,234");
    expect(the).toHaveAttribute("title", 'id 262 · piece "Ġthe" · text " the"');
    expect(screen.getByText("↵ ×5")).toBeInTheDocument();
    expect(screen.getByText("Ġa ×2")).toHaveAttribute("title", 'id 40 · piece "Ġa"');
    expect(screen.getByText(/\(1 token cut\)/)).toBeInTheDocument();
  });
});
