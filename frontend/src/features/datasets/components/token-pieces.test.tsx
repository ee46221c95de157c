import { render, screen } from "@testing-library/react";
import { TextBesideTokens } from "./token-pieces";

describe("TokenPieces", () => {
  it("test_pieces_read_as_text_with_visible_whitespace_and_the_raw_piece_on_hover", () => {
    // found by a tester: byte-level pieces showed raw ("Ġthe", "Ċ")
    render(<TextBesideTokens text="x" view={{
      n_tokens: 5,
      ids: [1, 262, 198, 300, 301],
      pieces: ["<s>", "Ġthe", "Ċ", "âĢ", "Ŀ"],
      token_texts: ["<s>", " the", "\n", "\uFFFD", "\uFFFD"],  // two bytes of one character
    }} />);
    const shown = Array.from(screen.getByLabelText("Token pieces").children, (el) => el.textContent);
    expect(shown).toEqual(["<s>", "␣the", "↵", "âĢ", "Ŀ"]);  // no two alike
    expect(screen.getByText("␣the")).toHaveAttribute("title", 'id 262 · piece "Ġthe" · text " the"');
    expect(screen.getByText("↵").title).toContain('piece "Ċ"');
    expect(screen.getByText("5 tokens")).toBeInTheDocument();
  });

  it("test_one_token_is_said_in_the_singular", () => {
    render(<TextBesideTokens text="x" view={{ n_tokens: 1, ids: [1], pieces: ["<s>"],
      token_texts: ["<s>"] }} />);
    expect(screen.getByText("1 token")).toBeInTheDocument();
  });
});
