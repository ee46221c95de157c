"""Which store rows a SAELens export takes, found in one pass over the token table.

Every row, or (``exclude_first_position``) the rows at a position other than 0, in store order;
``Rows.source`` maps a range of kept rows to the store rows holding them (contiguous, with the
left-out rows among them) and ``Rows.read`` reads their tokens. The same pass checks that token
ids fit int32, measures the kept sequences' lengths (``common_length``: the default context
size) and counts the stored sequences whose first stored row is past position 0
(``first_missing``: an ``exclude_bos`` store left out their leading BOS).

This module is NOT responsible for writing the export (``export.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from interpstudio.core.errors import InvalidInput, JobCancelled
from interpstudio.ml.store_reader import Activations, ShardedArray


class RunLengths:
    """The lengths of the runs of one sequence index in a stream of token rows fed in pieces
    (a sequence's rows are consecutive): up to ``LIMIT`` distinct lengths of the runs closed so
    far (``closed``), and the open run's (``open_length``)."""

    LIMIT = 9

    def __init__(self) -> None:
        self.closed: set[int] = set()
        self.open_length = 0
        self._open_id: int | None = None

    def feed(self, sequence_of_row: np.ndarray) -> None:
        seq = np.asarray(sequence_of_row)
        if not len(seq):
            return
        cuts = np.flatnonzero(seq[1:] != seq[:-1]) + 1
        sizes = np.diff(np.concatenate([[0], cuts, [len(seq)]]))  # (runs,)
        if self._open_id is not None and int(seq[0]) == self._open_id:
            sizes[0] += self.open_length
        elif self._open_id is not None:
            self._close(np.array([self.open_length]))
        self._close(sizes[:-1])
        self.open_length, self._open_id = int(sizes[-1]), int(seq[-1])

    def _close(self, sizes: np.ndarray) -> None:
        if len(self.closed) < self.LIMIT:
            self.closed.update(int(x) for x in np.unique(sizes)[: self.LIMIT])


@dataclass
class Rows:
    """The store rows an export takes, in store order: every row, or (``excludes_first``) the
    rows at a position other than 0. ``kept_offsets``: kept rows before each token shard."""

    tokens: ShardedArray
    excludes_first: bool
    kept_offsets: np.ndarray  # (shards + 1,)
    runs: RunLengths  # the kept rows' sequence lengths
    stored: int
    sequences: int = 0  # stored sequences
    first_missing: int = 0  # of them, those whose first stored row is past position 0

    @property
    def total(self) -> int:
        return int(self.kept_offsets[-1])

    @property
    def first_positions(self) -> int:
        """Rows left out (at position 0)."""
        return self.stored - self.total if self.excludes_first else 0

    def source(self, start: int, stop: int) -> slice:
        """The store rows holding kept rows [start, stop) (and the left-out rows among them)."""
        if not self.excludes_first:
            return slice(start, stop)
        return slice(self._store_row(start), self._store_row(stop - 1) + 1)

    def read(self, start: int, stop: int) -> tuple[slice, np.ndarray, np.ndarray | slice]:
        """Kept rows [start, stop): the store rows holding them (``source``), those rows' token
        table (n, 3) and which of them are kept (index ``acts[hook][source]`` with it)."""
        source = self.source(start, stop)
        tokens = self.tokens[source]  # (n, 3): token_id, sequence_index, position
        return source, tokens, (tokens[:, 2] != 0 if self.excludes_first else slice(None))

    def _store_row(self, kept: int) -> int:
        shard = int(np.searchsorted(self.kept_offsets, kept, side="right")) - 1
        local = np.flatnonzero(self.tokens.shard(shard)[:, 2] != 0)
        return int(self.tokens.offsets[shard]) + int(local[kept - self.kept_offsets[shard]])

    def common_length(self, *, last_may_be_cut: bool) -> int:
        """The one length of every kept sequence; refuse (asking for context_size) otherwise.
        ``last_may_be_cut``: a partial store ends where its last whole shard does, mid-sequence
        as likely as not; that sequence does not count (a shorter one is the dropped tail)."""
        lengths = set(self.runs.closed)
        if not lengths or not last_may_be_cut:
            lengths |= {self.runs.open_length} - {0}
        if len(lengths) != 1:
            shown = sorted(lengths)[:8]
            raise InvalidInput(
                f"the stored sequences have different lengths (e.g. {shown}); pass "
                "context_size=N to pack the token stream into rows of N tokens (SAELens "
                "flattens rows when training)",
                details={"lengths_seen": shown},
            )
        return lengths.pop()


def select_rows(acts: Activations, *, exclude_first_position: bool,
                 should_stop: Callable[[], bool] | None) -> Rows:
    """One pass over the token table, a shard at a time: the rows to export, their sequences'
    lengths, and token ids that fit int32. Refuses a store with nothing to export."""
    kept: list[int] = []
    runs = RunLengths()
    sequences = first_missing = 0
    previous: int | None = None  # the sequence of the last row read
    for tokens in acts.tokens:  # one (rows, 3) shard at a time
        if should_stop is not None and should_stop():
            raise JobCancelled("export cancelled; nothing was written to the target")
        if len(tokens):
            seq = tokens[:, 1]
            starts = np.flatnonzero(np.concatenate([[previous != seq[0]], seq[1:] != seq[:-1]]))
            sequences += len(starts)
            first_missing += int(np.count_nonzero(tokens[starts, 2] != 0))
            previous = int(seq[-1])
        if exclude_first_position:
            tokens = tokens[tokens[:, 2] != 0]
        ids = tokens[:, 0]
        if len(ids) and (ids.min() < 0 or ids.max() > np.iinfo(np.int32).max):
            raise InvalidInput(
                "token ids must fit int32 for the SAELens layout",
                details={"min": int(ids.min()), "max": int(ids.max())},
            )
        runs.feed(tokens[:, 1])
        kept.append(len(tokens))
    stored = len(acts.tokens)
    rows = Rows(acts.tokens, exclude_first_position,
                 np.concatenate([[0], np.cumsum(kept, dtype=np.int64)]), runs, stored,
                 sequences, first_missing)
    if stored == 0:
        raise InvalidInput(
            f"the store at {acts.path} holds no rows yet (status {acts.status}: no shard was "
            "written), so there is nothing to export",
            details={"path": str(acts.path), "status": acts.status})
    if rows.total == 0:
        policy = acts.spec.get("positions")
        mode = policy.get("mode") if isinstance(policy, dict) else policy
        why = (" (positions 'last' of one-token sequences)" if mode == "last" else "")
        raise InvalidInput(
            f"every one of the store's {stored:,} rows is at position 0, a sequence's first "
            f"token{why}, so leaving out first positions leaves nothing to export; export "
            "without exclude_first_position",
            details={"rows": stored, "first_positions_excluded": stored})
    return rows
