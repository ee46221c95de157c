/**
 * Which of a dataset's tokenizations makes the one a Tokenize form asks for a duplicate, as the
 * server decides it (`services/tokenizations.create_tokenization`): one under the same policy
 * made with the model's own tokenizer (whatever its status), or with another model's
 * byte-identical tokenizer files while it is queued, running or ready. Takes the list the server
 * gave for `?usable_with_model=` (it decides which tokenizers are identical). Not responsible for
 * fetching it, or for the policy's max length cut (the form sends the max length it shows).
 */
import type { Tokenization, TokenizationPolicy } from "../types";

/** Another model's tokenization that serves this one: made, or being made. */
const LIVE_STATUSES = new Set(["queued", "running", "ready"]);

/** The policy a tokenization was asked for (stored as `{requested}`, beside the resolved one). */
export function requestedPolicy(policy: Record<string, unknown>): Record<string, unknown> {
  const requested = policy.requested;
  return requested !== null && typeof requested === "object"
    ? (requested as Record<string, unknown>) : policy;
}

export function samePolicy(stored: Record<string, unknown>, policy: TokenizationPolicy): boolean {
  return stored.max_length === policy.max_length
    && stored.mode === (policy.mode ?? "truncate")
    && (stored.add_bos ?? null) === (policy.add_bos ?? null)
    && stored.min_tokens === (policy.min_tokens ?? 1);
}

/** The newest tokenization of `usable` (the server's list for the model, newest first) that
 * the server would refuse to make again for `modelKey` under `policy`; else undefined. */
export function existingTokenizationFor(
  usable: readonly Tokenization[],
  modelKey: string,
  policy: TokenizationPolicy,
): Tokenization | undefined {
  return usable.find((t) => samePolicy(requestedPolicy(t.policy), policy)
    && (t.tokenizer_key === modelKey || LIVE_STATUSES.has(t.status)));
}
