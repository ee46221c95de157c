"""What the extraction engine hands the activation writer, and its validation.

``ActivationBatch`` is one batch of rows (pads removed): per hook point an ``(N, d)`` array in the
storage dtype (numpy or a CPU torch tensor; bfloat16 as a torch bf16 tensor or uint16 bits), plus
token id, sequence index and position per row. ``prepare_batch`` checks it against the store's
hook points and dtype without copying activations; ``check_order`` enforces that a sequence's rows
are contiguous with increasing positions (what exact resume relies on).

This module is NOT responsible for queueing or writing (``store_writer``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from interpstudio.ml import store as layout
from interpstudio.ml.store import InvalidActivationBatch


@dataclass(frozen=True)
class ActivationBatch:
    """One batch from the engine, pad positions already removed.

    activations: hook name -> (N, d) array in the storage dtype (numpy, or CPU torch tensor;
    bfloat16 as a torch bf16 tensor or its uint16 bits; float arrays are cast / rounded).
    token_ids, sequence_index, position: (N,) integers, one per row.
    release: called (on the writer's thread) once the writer no longer reads the activations,
    whether they were stored or dropped, so that their memory can be reused for a later batch.
    ready: called (on the caller's thread, by ``append``) before anything reads the
    activations: returns once they are in host memory (an accelerator's asynchronous copy).
    """

    activations: Mapping[str, Any]
    token_ids: Any
    sequence_index: Any
    position: Any
    release: Callable[[], None] | None = None
    ready: Callable[[], None] | None = None
    # the writer's ``ShardLoan`` the rows were cast into (``activations`` is then empty): they
    # are already where the shard buffers hold them
    loan: Any = None


@dataclass
class PreparedBatch:
    """A validated batch: numpy views of the activations and an (n, 3) token table."""

    activations: dict[str, np.ndarray]  # hook -> (n, d)
    tokens: np.ndarray  # (n, 3) int64
    release: Callable[[], None] | None = None  # see ActivationBatch
    lent: bool = False  # the rows are in the shard buffers already (``ActivationBatch.loan``)

    @property
    def rows(self) -> int:
        return self.tokens.shape[0]


def prepare_batch(batch: ActivationBatch, hooks: Mapping[str, int], dtype: str) -> PreparedBatch:
    """Validate ``batch`` against the store's hooks and dtype (activations are not copied)."""
    token_ids = layout.as_numpy(batch.token_ids, what="token_ids")
    n = token_ids.shape[0] if token_ids.ndim == 1 else -1
    columns = [
        token_ids,
        layout.as_numpy(batch.sequence_index, what="sequence_index"),
        layout.as_numpy(batch.position, what="position"),
    ]
    if n < 0 or any(c.shape != (n,) or c.dtype.kind not in "iu" for c in columns):
        raise InvalidActivationBatch(
            "token_ids, sequence_index and position must be 1-D integer arrays of one length",
            details={"shapes": [list(c.shape) for c in columns]},
        )
    tokens = np.stack(columns, axis=1).astype(np.int64, copy=False)  # (n, 3)
    if batch.loan is not None:
        if batch.activations or batch.loan.rows != n:
            raise InvalidActivationBatch(
                f"a batch cast into lent rows has no activations of its own and the loan's "
                f"rows ({batch.loan.rows}); got {len(batch.activations)} arrays and {n} rows",
                details={"rows": n, "loan_rows": batch.loan.rows})
        return PreparedBatch({}, tokens, None, lent=True)
    missing = sorted(set(hooks) - set(batch.activations))
    extra = sorted(set(batch.activations) - set(hooks))
    if missing or extra:
        raise InvalidActivationBatch(
            f"batch hook points differ from the store's: missing {missing}, unexpected {extra}",
            details={"missing": missing, "unexpected": extra},
        )
    acts = {}
    for name, d in hooks.items():
        x = layout.as_numpy(batch.activations[name], what=f"activations[{name!r}]")
        ok_kind = x.dtype.kind == "f" or (dtype == "bfloat16" and x.dtype == np.uint16)
        if x.shape != (n, d) or not ok_kind:
            raise InvalidActivationBatch(
                f"activations[{name!r}] must be ({n}, {d}) floats (bfloat16: uint16 bits or a "
                f"torch bf16 tensor); got {x.shape} {x.dtype}",
                details={"hook": name, "shape": list(x.shape), "dtype": str(x.dtype)},
            )
        acts[name] = x
    return PreparedBatch(acts, tokens, batch.release)


def check_order(tokens: np.ndarray, last_token: np.ndarray | None) -> None:
    """Rows of a sequence must be contiguous with increasing positions; ``last_token`` is the
    (3,) row appended before these (None at the start)."""
    seq, pos = tokens[:, 1], tokens[:, 2]
    if last_token is not None and len(tokens):
        seq = np.concatenate([[last_token[1]], seq])
        pos = np.concatenate([[last_token[2]], pos])
    same = seq[1:] == seq[:-1]
    if np.any(pos[1:][same] <= pos[:-1][same]):
        raise InvalidActivationBatch(
            "positions must increase within a sequence, and a sequence's rows must be "
            "contiguous in the stream",
            details={},
        )
