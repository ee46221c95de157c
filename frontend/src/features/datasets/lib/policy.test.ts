import { describe, expect, it } from "vitest";
import { describeBos, describePolicy } from "./policy";

describe("describePolicy", () => {
  it("spells out packing with the tokenizer's EOS and the resolved BOS", () => {
    const lines = describePolicy({
      max_length: 16,
      mode: "pack",
      add_bos: true,
      min_tokens: 2,
      bos_source: "tokenizer default",
      tokenizer: { bos_token: "<s>", eos_token: "</s>" },
    });
    expect(lines[0]).toContain("joined with </s>");
    expect(lines[0]).toContain("16 tokens");
    expect(lines[1]).toBe("BOS: <s> prepended (tokenizer default)");
    expect(lines[2]).toBe("Rows with fewer than 2 tokens are dropped and counted.");
    expect(lines[3]).toContain("No padding");
  });

  it("test_a_one_token_threshold_reads_in_the_singular", () => {
    // "fewer than 1 token(s)" read as a slip
    expect(describePolicy({ min_tokens: 1 })[2]).toBe("Rows with fewer than 1 token are dropped and counted.");
  });

  it("says when BOS is left to the tokenizer before it is resolved", () => {
    expect(describeBos({ add_bos: null })).toBe("BOS: the tokenizer's default");
    expect(describeBos({ add_bos: false })).toBe("BOS: no BOS");
  });
});
