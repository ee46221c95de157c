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

  it("test_a_queued_tokenization_reads_its_requested_policy_and_the_servers_cut", () => {
    // a tokenization the server cut to a 256-position model's length read "cut at 1024" until
    // its job ran: the stored policy is only `{requested}` then
    const note = "max length 256: model 3 takes at most 256 positions (max_position_embeddings "
      + "in its config.json; the default is 1024); max length picks another";
    const lines = describePolicy({ requested: { max_length: 256, mode: "pack", add_bos: null },
      max_length_note: note });
    expect(lines[0]).toContain("full windows of 256 tokens");
    expect(lines[1]).toBe("BOS: the tokenizer's default");
    expect(lines.at(-1)).toBe(`M${note.slice(1)}.`);
    expect(describePolicy({ max_length: 64 })).toHaveLength(4); // no cut: no line
  });

  it("says when BOS is left to the tokenizer before it is resolved", () => {
    expect(describeBos({ add_bos: null })).toBe("BOS: the tokenizer's default");
    expect(describeBos({ add_bos: false })).toBe("BOS: no BOS");
  });
});
