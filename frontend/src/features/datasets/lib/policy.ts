/**
 * Says a tokenization policy in words, so nothing about it is implicit (BOS, truncation vs
 * packing, padding, dropping): a form's, a dry run's, or a stored one (`{requested}` until its
 * job resolves it), with the server's `max_length_note` where it cut a default max length to the
 * model's positions. Not responsible for validating it (the server does).
 */
import { formatCount } from "@/lib/format";

export type PolicyLike = {
  max_length?: number;
  mode?: string;
  add_bos?: boolean | null;
  min_tokens?: number;
  bos_source?: string;
  tokenizer?: { bos_token?: string | null; eos_token?: string | null };
  /** A stored tokenization's policy as asked; until its job runs, all the policy there is. */
  requested?: PolicyLike;
  /** The server's line where it cut a default max length to the model's positions. */
  max_length_note?: string;
};

export function describeBos(policy: PolicyLike): string {
  const bos = policy.tokenizer?.bos_token ?? "BOS";
  if (policy.add_bos === null || policy.add_bos === undefined) return "BOS: the tokenizer's default";
  const what = policy.add_bos ? `${bos} prepended` : "no BOS";
  return `BOS: ${what}${policy.bos_source ? ` (${policy.bos_source})` : ""}`;
}

export function describePolicy(stored: PolicyLike): string[] {
  const policy = { ...stored.requested, ...stored };
  const note = policy.max_length_note;
  const length = policy.max_length ?? 1024;
  const eos = policy.tokenizer?.eos_token ?? "EOS";
  const mode =
    policy.mode === "pack"
      ? `Packing: rows joined with ${eos} and cut into full windows of ${length} tokens; the last partial window is dropped.`
      : `Truncation: one sequence per row, cut at ${length} tokens (the cut tokens are counted).`;
  return [
    mode,
    describeBos(policy),
    `Rows with fewer than ${formatCount(policy.min_tokens ?? 1, "token")} are dropped and counted.`,
    "No padding is stored: sequence lengths live in offsets.",
    ...(note ? [`${note.charAt(0).toUpperCase()}${note.slice(1)}.`] : []),
  ];
}
