"""What an extraction will read and keep: sequences, kept positions, fixed batches, exact sizes.

``plan_extraction(tokenized, batch_size=..., positions=..., max_samples=..., max_tokens=...)``
returns an ``ExtractionPlan``: which sequences are read (the first ``max_samples`` of the
tokenization, truncated so that at most ``max_tokens`` tokens are read: the last sequence may be
cut, which is exact for a causal model at the positions it still holds; under ``last`` a cut
sequence is left out instead, since its last token is not among them), how many rows each
sequence contributes under the
position policy, and the batches. Batches are fixed runs of ``batch_size`` consecutive sequences
in index order, so batch boundaries depend only on the data: a resumed run restarts at the batch
that holds the cut sequence and computes exactly the same padded tensors as an uninterrupted run
(byte-identical output).

Position policies (``PositionPolicy``):
- ``all``: every token;
- ``last``: the last token of each sequence;
- ``every_k``: positions ``k-1, 2k-1, ...`` (every k-th token, counting from 1);
- ``exclude_bos``: every token but the first, when the first is the BOS token (every first
  token when no BOS id is known).

This module is pure numpy: it is NOT responsible for running the model or writing anything.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from interpstudio.core.errors import MAX_COUNT, InvalidInput, whole_number

POSITION_MODES: tuple[str, ...] = ("all", "last", "every_k", "exclude_bos")


class EmptyExtraction(InvalidInput):
    """The selection holds no token to capture (empty dataset, or a policy that keeps nothing)."""

    code = "empty_extraction"

    def __init__(self, reason: str, details: dict[str, Any]) -> None:
        super().__init__(
            f"nothing to extract: {reason}; choose a tokenization with tokens, raise max_samples "
            "/ max_tokens, or pick another position policy",
            details=details,
        )


class TokenOutOfVocabulary(InvalidInput):
    """A token id the model has no embedding for (never clamped silently)."""

    code = "token_out_of_vocabulary"

    def __init__(self, max_id: int, vocab_size: int) -> None:
        super().__init__(
            f"the tokenization holds token id {max_id}, but the model's vocabulary has "
            f"{vocab_size} entries: tokenize the dataset with this model's tokenizer",
            details={"max_token_id": max_id, "vocab_size": vocab_size},
        )


class TokenizerMismatch(InvalidInput):
    """A tokenization made by another tokenizer than the model's (ids may all be in range)."""

    code = "tokenization_tokenizer_mismatch"

    def __init__(self, tokenizer_key: str, differs: list[str]) -> None:
        super().__init__(
            f"the tokenization was made with another tokenizer ({tokenizer_key!r}; "
            f"{', '.join(differs)} differ from this model's): tokenize the dataset with this "
            "model's tokenizer",
            details={"tokenizer_key": tokenizer_key, "differs": differs},
        )


class SequenceTooLong(InvalidInput):
    """A sequence longer than a model with learned positions has position embeddings for."""

    code = "sequence_too_long"

    def __init__(self, longest: int, context: int) -> None:
        super().__init__(
            f"the tokenization has sequences of {longest} tokens, but the model has position "
            f"embeddings for {context}: tokenize the dataset with a max length of at most "
            f"{context}", details={"longest_sequence": longest, "model_context": context})


@dataclass(frozen=True)
class PositionPolicy:
    """Which positions of a sequence become rows; see the module docstring."""

    mode: str = "all"
    k: int = 1
    bos_token_id: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in POSITION_MODES:
            raise InvalidInput(
                f"unknown position policy {self.mode!r}; use one of {', '.join(POSITION_MODES)}",
                details={"positions": self.mode, "valid": list(POSITION_MODES)},
            )
        # every_k=2.5 stored positions 1, 4, 7 silently; 2.0 entered the spec as 2.0
        object.__setattr__(self, "k", whole_number("every_k", self.k))
        if self.k < 1:
            raise InvalidInput(
                f"every_k needs k >= 1, got {self.k}", details={"every_k": self.k}
            )
        if self.k != 1 and self.mode != "every_k":  # it was ignored, yet changed the hash
            raise InvalidInput(
                f"every_k={self.k} applies only to positions='every_k' (not {self.mode!r}); "
                "set positions='every_k' or leave every_k at 1",
                details={"every_k": self.k, "positions": self.mode})

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "k": self.k, "bos_token_id": self.bos_token_id}

    def keep(self, length: int, first_token: int) -> np.ndarray:
        """(n_kept,) int64 positions kept in a sequence of ``length`` tokens."""
        if length <= 0:
            return np.empty(0, np.int64)
        if self.mode == "last":
            return np.array([length - 1], np.int64)
        if self.mode == "every_k":
            return np.arange(self.k - 1, length, self.k, dtype=np.int64)
        if self.mode == "exclude_bos":
            drop = self.bos_token_id is None or first_token == self.bos_token_id
            return np.arange(1 if drop else 0, length, dtype=np.int64)
        return np.arange(length, dtype=np.int64)

    def count(self, lengths: np.ndarray, first_tokens: np.ndarray) -> np.ndarray:
        """(n,) rows kept per sequence, vectorised ``len(keep(...))``."""
        lengths = np.asarray(lengths, np.int64)
        if self.mode == "last":
            return (lengths > 0).astype(np.int64)
        if self.mode == "every_k":
            return lengths // self.k
        if self.mode == "exclude_bos":
            drop = (
                np.ones(len(lengths), bool)
                if self.bos_token_id is None
                else np.asarray(first_tokens) == self.bos_token_id
            )
            return np.maximum(lengths - (drop & (lengths > 0)), 0)
        return lengths

    def tokens_through(self, row: int, length: int, kept: int) -> int:
        """Tokens of a sequence of ``length`` tokens and ``kept`` rows, read through its
        ``row``-th kept row (1-based): where a shard boundary cut the sequence."""
        if self.mode == "last":
            return length
        if self.mode == "every_k":
            return row * self.k
        if self.mode == "exclude_bos":
            return row + (length - kept)  # 1 where the first position was dropped
        return row


@dataclass(frozen=True)
class Batch:
    """One planned forward pass: consecutive sequences ``first..first+len(lengths)-1``."""

    index: int
    first: int  # index (in the tokenization) of its first sequence
    lengths: np.ndarray  # (B,) tokens read from each sequence (after truncation)

    @property
    def sequences(self) -> range:
        return range(self.first, self.first + len(self.lengths))

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())


@dataclass(frozen=True)
class ExtractionPlan:
    """The sequences, rows and batches of one extraction (see ``plan_extraction``)."""

    lengths: np.ndarray  # (n_seq,) tokens read per selected sequence
    rows_per_sequence: np.ndarray  # (n_seq,) rows kept per sequence
    batch_size: int
    policy: PositionPolicy

    @property
    def n_sequences(self) -> int:
        return len(self.lengths)

    @property
    def n_tokens(self) -> int:
        return int(self.lengths.sum())

    @property
    def n_rows(self) -> int:
        return int(self.rows_per_sequence.sum())

    @property
    def max_length(self) -> int:
        return int(self.lengths.max()) if len(self.lengths) else 0

    @functools.cached_property
    def max_batch_rows(self) -> int:
        """Rows kept by the largest batch (computed once: the engine asks per batch)."""
        if not len(self.rows_per_sequence):
            return 0
        return int(np.add.reduceat(self.rows_per_sequence, self._batch_starts).max())

    @functools.cached_property
    def largest_batch(self) -> Batch:
        """The batch whose padded input (sequences x longest length) is largest; the first
        of equals."""
        starts = self._batch_starts
        counts = np.diff(np.append(starts, self.n_sequences))
        padded = np.maximum.reduceat(self.lengths, starts).astype(np.int64) * counts
        return self.batch(int(np.argmax(padded)))

    @property
    def _batch_starts(self) -> np.ndarray:
        """(n_batches,) index of each batch's first sequence."""
        return np.arange(0, self.n_sequences, self.batch_size)

    @property
    def n_batches(self) -> int:
        return -(-self.n_sequences // self.batch_size)

    def batch(self, index: int) -> Batch:
        first = index * self.batch_size
        return Batch(index, first, self.lengths[first : first + self.batch_size])

    def batches(self, start_sequence: int = 0) -> Iterator[Batch]:
        """The batches from the one holding ``start_sequence`` to the end."""
        for index in range(start_sequence // self.batch_size, self.n_batches):
            yield self.batch(index)

    def tokens_before(self, sequence: int) -> int:
        return int(self.lengths[:sequence].sum())

    def tokens_through_row(self, rows: int) -> int:
        """The tokens that the first ``rows`` kept rows account for: the whole sequences they
        fill and, in a sequence cut between shards, its tokens through its last stored row. A
        store of ``rows`` rows has read this many of the plan's tokens."""
        rows = min(max(int(rows), 0), self.n_rows)
        if rows == 0:
            return 0
        ends = np.cumsum(self.rows_per_sequence)  # (n_seq,) rows through each sequence
        last = int(np.searchsorted(ends, rows, side="left"))  # the sequence holding row `rows`
        if int(ends[last]) == rows:
            return self.tokens_before(last + 1)
        row = rows - (int(ends[last - 1]) if last else 0)
        return self.tokens_before(last) + self.policy.tokens_through(
            row, int(self.lengths[last]), int(self.rows_per_sequence[last]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequences": self.n_sequences,
            "tokens": self.n_tokens,
            "rows": self.n_rows,
            "max_length": self.max_length,
            "batches": self.n_batches,
            "batch_size": self.batch_size,
        }


def plan_extraction(
    tokenized: Any,
    *,
    batch_size: int,
    positions: PositionPolicy,
    max_samples: int | None = None,
    max_tokens: int | None = None,
) -> ExtractionPlan:
    """Plan an extraction over ``tokenized`` (a ``token_store.TokenizedDataset``)."""
    batch_size = whole_number("batch_size", batch_size)
    max_samples = None if max_samples is None else whole_number("max_samples", max_samples)
    max_tokens = None if max_tokens is None else whole_number("max_tokens", max_tokens)
    if batch_size < 1:
        raise InvalidInput(f"batch_size must be >= 1, got {batch_size}",
                           details={"batch_size": batch_size})
    for name, value in (("max_samples", max_samples), ("max_tokens", max_tokens)):
        if value is not None and not 1 <= value <= MAX_COUNT:
            raise InvalidInput(f"{name} must be >= 1 and at most 2**63 - 1 when given, got "
                               f"{value}; leave it unset for no limit",
                               details={name: value if value < 1 else str(value)})
    offsets = np.asarray(tokenized.offsets, np.int64)  # (N_seq + 1,)
    n_seq = len(offsets) - 1
    if max_samples is not None:
        n_seq = min(n_seq, max_samples)
    lengths = np.diff(offsets[: n_seq + 1]).astype(np.int64)  # (n_seq,)
    if max_tokens is not None:
        cumulative = np.cumsum(lengths)
        n_seq = int(np.searchsorted(cumulative, max_tokens, side="left")) + 1
        n_seq = min(n_seq, len(lengths))
        lengths = lengths[:n_seq].copy()
        over = int(lengths.sum()) - max_tokens
        if over > 0 and positions.mode == "last":
            # the cut piece's last token is not the sequence's last one (a one-token piece is
            # its BOS): a tester got a BOS row stored as a "last" row
            n_seq -= 1
            lengths = lengths[:n_seq]
            if n_seq == 0:
                raise EmptyExtraction(
                    f"positions 'last' reads whole sequences only, and the first holds "
                    f"{int(offsets[1] - offsets[0])} tokens, more than max_tokens={max_tokens}",
                    {"positions": positions.to_dict(), "max_tokens": max_tokens})
        elif over > 0:
            lengths[-1] -= over
    if n_seq == 0 or int(lengths.sum()) == 0:
        raise EmptyExtraction(
            "the tokenization (or the selected part of it) holds no tokens",
            {"sequences": int(len(offsets) - 1), "max_samples": max_samples,
             "max_tokens": max_tokens},
        )
    tokens = np.asarray(tokenized.tokens)
    starts = offsets[:n_seq]
    # int64 before -1 joins them: token ids are uint32, and numpy >= 2.5 refuses -1 as a uint32
    # (OverflowError; 2.4 widened silently)
    firsts = tokens[np.minimum(starts, max(len(tokens) - 1, 0))].astype(np.int64)
    first_tokens = np.where(lengths > 0, firsts, -1)
    rows = positions.count(lengths, first_tokens)
    plan = ExtractionPlan(lengths, rows, batch_size, positions)
    if plan.n_rows == 0:
        raise EmptyExtraction(
            f"the position policy {positions.mode!r} keeps no token of the selected sequences",
            {"positions": positions.to_dict(), "tokens": plan.n_tokens},
        )
    return plan


def tokens_fingerprint(tokenized: Any, plan: ExtractionPlan) -> str:
    """sha256 of the planned sequences' lengths and tokens: which data a store was written from
    (another tokenization with the same tokenizer, policy and counts differs here)."""
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(plan.lengths, np.int64).tobytes())
    if plan.n_sequences:
        last = plan.n_sequences - 1
        start = int(tokenized.offsets[0])
        end = int(tokenized.offsets[last]) + int(plan.lengths[last])
        step = 1 << 24  # 64 MiB of uint32 at a time
        for block in range(start, end, step):
            digest.update(np.ascontiguousarray(tokenized.tokens[block : min(end, block + step)]))
    return digest.hexdigest()


def check_vocabulary(tokenized: Any, plan: ExtractionPlan, vocab_size: int | None) -> None:
    """Refuse token ids >= the model's embedding rows (reads the selected tokens once)."""
    if vocab_size is None:
        return
    last = plan.n_sequences - 1
    end = int(tokenized.offsets[last]) + int(plan.lengths[last])
    tokens = np.asarray(tokenized.tokens[int(tokenized.offsets[0]) : end])
    if tokens.size and int(tokens.max()) >= vocab_size:
        raise TokenOutOfVocabulary(int(tokens.max()), vocab_size)


def check_tokenizer(tokenized: Any, tokenizer: Any | None) -> None:
    """Refuse a tokenization whose recorded tokenizer (vocabulary fingerprint, size, BOS / EOS
    ids) is not ``tokenizer`` (a loaded model's); nothing to compare without either."""
    recorded = tokenized.policy.get("tokenizer")
    if tokenizer is None or not isinstance(recorded, dict):
        return
    from interpstudio.ml.tokenize import vocab_fingerprint

    mine = {"vocab_size": len(tokenizer), "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id}
    if "vocab_sha256" in recorded:
        mine["vocab_sha256"] = vocab_fingerprint(tokenizer)
    differs = [k for k, v in mine.items() if k in recorded and recorded[k] != v]
    if differs:
        raise TokenizerMismatch(tokenized.tokenizer_key, differs)


_POSITION_TABLES = ("wpe", "embed_positions", "position_embeddings")  # GPT-2/Neo, OPT, BERT-likes


def position_limit(model: Any) -> int | None:
    """The positions a learned position table has (GPT-2's ``wpe``, OPT's offset table); None
    for rotary and ALiBi models, which have no table and no such limit."""
    from torch import nn

    for name, module in model.named_modules():
        if isinstance(module, nn.Embedding) and name.rsplit(".", 1)[-1] in _POSITION_TABLES:
            return int(module.num_embeddings - int(getattr(module, "offset", 0)))
    return None


def check_context(model: Any, plan: ExtractionPlan) -> None:
    """Refuse sequences longer than a learned position table (they index past its end)."""
    context = position_limit(model)
    if context is not None and plan.max_length > context:
        raise SequenceTooLong(plan.max_length, context)
