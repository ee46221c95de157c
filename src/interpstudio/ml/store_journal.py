"""The shard journal of an activation store: ``shards.jsonl``, one appended line per whole shard.

Line ``k`` (0-based) is the commit record of shard ``k``: ``{"shard": <the shard's manifest
entry>, "counts": ..., "stats_state": ..., "updated_at": ...}``, i.e. the entry and what the
manifest holds once that shard is in. Committing a shard appends its line with one ``write`` of the
whole line (ending in ``\\n``), then fsyncs it: the cost of a commit does not depend on how many
shards came before (rewriting a manifest that lists them all would; see ``docs/ARCHITECTURE.md``).

A crash during the append leaves a torn last line: no ``\\n`` at its end, or bytes that are not
JSON (a filesystem may show a size that covers bytes never written). ``read_journal`` ignores such
a last line, since its shard was never committed, and ``keep_lines`` cuts it off before a resumed
writer appends. Anything else that does not hold (a bad line before the last one, line ``k`` that
is not shard ``k``) is ``StoreJournalCorrupted``. A failed append truncates the file back, so an
uncommitted line never outlives the shard files that its writer deletes.

``JournalShards`` is the shard list of a writer's manifest: the entries of the journal's first
lines, read back from the file when used, so that what the writer holds per shard is where its
line ends (8 bytes) rather than its entry (a record with path, sha256 and size of every file:
~90 KB a shard at 90 hook points, ~330 MB for a 10M-token run's 3,600 shards).

This module only knows lines and bytes: what a line means for the manifest (``store.read_manifest``
merges the journal into ``manifest.json``'s header) and when to append (``store_writer``) are
decided elsewhere. It imports nothing from the other store modules, so ``store`` can use it.
"""

from __future__ import annotations

import contextlib
import operator
import os
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import orjson

from interpstudio.core.errors import AppError

JOURNAL_NAME = "shards.jsonl"
_BLOCK = 8 << 20


class StoreJournalCorrupted(AppError):
    code = "activation_store_journal_corrupted"

    def __init__(self, path: Path, line: int, problem: str) -> None:
        super().__init__(
            f"the shard journal {path} is damaged at line {line + 1}: {problem}; the store cannot "
            "be read or resumed as it is, re-run the extraction into a new folder",
            details={"path": str(path), "line": line + 1, "problem": problem},
        )


@dataclass(frozen=True)
class Journal:
    """The committed lines of a journal, and the bytes of the torn line after them (if any)."""

    lines: list[dict[str, Any]]
    committed_bytes: int
    torn_bytes: int


def read_journal(path: Path) -> Journal | None:
    """The valid lines of the journal at ``path`` (None if there is no journal)."""
    if not path.exists():
        return None
    lines: list[dict[str, Any]] = []
    committed = 0
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):  # torn: the append never finished
                return Journal(lines, committed, len(raw))
            try:
                entry = orjson.loads(raw)
            except ValueError:
                rest = len(f.read())
                if rest == 0:  # a torn last line whose size landed before its bytes
                    return Journal(lines, committed, len(raw))
                raise StoreJournalCorrupted(path, len(lines), "not valid JSON") from None
            _check_line(path, len(lines), entry)
            lines.append(entry)
            committed += len(raw)
    return Journal(lines, committed, 0)


def has_committed_line(path: Path) -> bool | None:
    """Whether the journal at ``path`` holds a committed line, i.e. its store a whole shard,
    reading its first line only (an API lists many stores; a journal can be hundreds of MB).
    None if there is no journal (a version-1 store lists its shards in its manifest), or its
    first line is damaged while more follow (``read_journal`` says so when the store is read)."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
            if not first.endswith(b"\n"):
                return False  # no line, or the only one torn
            try:
                orjson.loads(first)
            except ValueError:  # the only line torn (its size landed before its bytes)
                return None if f.read(1) else False
            return True
    except FileNotFoundError:
        return None


def _check_line(path: Path, index: int, entry: Any) -> None:
    shard = entry.get("shard") if isinstance(entry, dict) else None
    if not isinstance(shard, dict) or "counts" not in entry:
        raise StoreJournalCorrupted(path, index, "not a shard commit record")
    if shard.get("index") != index:
        raise StoreJournalCorrupted(
            path, index, f"holds shard {shard.get('index')!r}, line {index + 1} must hold shard "
            f"{index}"
        )


def encode_line(entry: dict[str, Any]) -> bytes:
    """``entry`` as one journal line (JSON ending in ``\\n``; numpy scalars allowed)."""
    return orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)


def append_line(path: Path, line: bytes, *, durable: bool) -> None:
    """Append ``line`` (from ``encode_line``), the commit point of its shard, with one ``write``;
    fsync it if ``durable``.

    The journal must exist (the writer creates it when it opens the store). On any error the file
    is cut back to its previous length and the error propagates."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        end = os.fstat(fd).st_size
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):  # the write's own error is the one to report
                os.ftruncate(fd, end)
            raise
    finally:
        os.close(fd)


def keep_lines(path: Path, lines: int, *, durable: bool) -> None:
    """Cut the journal after its first ``lines`` lines (what follows is a torn, uncommitted line);
    create it empty if it is missing and ``lines`` is 0. The folder is not synced here."""
    if not path.exists():
        if lines:
            raise StoreJournalCorrupted(path, 0, f"missing, but {lines} shard(s) are listed")
        path.touch()
        return
    ends = _line_ends(path, lines)
    end = ends[-1] if lines else 0
    if end != path.stat().st_size:
        os.truncate(path, end)
    if durable:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _line_ends(path: Path, lines: int) -> array[int]:
    """Byte offsets just past each of the first ``lines`` newlines of ``path`` (read in blocks,
    nothing parsed)."""
    ends: array[int] = array("q")
    offset = 0
    with open(path, "rb") as f:
        while len(ends) < lines and (block := f.read(_BLOCK)):
            at = -1
            while len(ends) < lines and (at := block.find(b"\n", at + 1)) >= 0:
                ends.append(offset + at + 1)
            offset += len(block)
    if len(ends) < lines:
        raise StoreJournalCorrupted(path, len(ends),
                                    f"has {len(ends)} whole line(s), {lines} expected")
    return ends


class JournalShards(Sequence[dict[str, Any]]):
    """The shard entries of the first ``len(self)`` lines of the journal at ``path``, read from the
    file when used (see the module docstring): indexing reads one line (one seek), iterating and
    slicing stream the lines, one parsed at a time; ``==`` compares the entries with any sequence
    of them. A snapshot: lines appended after it are not in it (``appended`` makes the next one).
    The lines it lists must stay as they were committed (they never change while the store
    exists); one that did is ``StoreJournalCorrupted``."""

    def __init__(self, path: Path, ends: array[int] | None = None,
                 count: int | None = None) -> None:
        self.path = path
        # where each line ends; shared with the snapshots made from this one, each of which reads
        # only its first ``count`` (appended to in place while it is the newest)
        self._ends: array[int] = array("q") if ends is None else ends
        self._count = len(self._ends) if count is None else count

    @classmethod
    def of_lines(cls, path: Path, lines: int) -> JournalShards:
        """The first ``lines`` lines of the journal at ``path``, which it must hold whole."""
        return cls(path, _line_ends(path, lines))

    def appended(self, size: int) -> JournalShards:
        """These shards and one more, whose line of ``size`` bytes is appended right after theirs
        (the commit this snapshot is for; until it lands, its entry cannot be read)."""
        ends = self._ends
        if len(ends) != self._count:  # a newer snapshot's line never landed (a failed commit)
            ends = ends[: self._count]
        ends.append((ends[-1] if self._count else 0) + size)
        return JournalShards(self.path, ends, self._count + 1)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            if step == 1:
                return list(self._read(start, stop))
            return [self[i] for i in range(start, stop, step)]
        i = operator.index(index)
        if i < 0:
            i += self._count
        if not 0 <= i < self._count:
            raise IndexError(f"shard {index} of {self._count}")
        return next(self._read(i, i + 1))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._read(0, self._count)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __repr__(self) -> str:
        return f"JournalShards({self._count} shards in {str(self.path)!r})"

    def _read(self, start: int, stop: int) -> Iterator[dict[str, Any]]:
        """The entries of lines ``start`` to ``stop`` (exclusive), from one open file."""
        if start >= stop:
            return
        offset = self._ends[start - 1] if start else 0
        with open(self.path, "rb") as f:
            f.seek(offset)
            for index in range(start, stop):
                raw = f.read(self._ends[index] - offset)
                offset = self._ends[index]
                try:
                    entry = orjson.loads(raw) if raw.endswith(b"\n") else None
                except ValueError:
                    entry = None
                if entry is None:
                    raise StoreJournalCorrupted(self.path, index,
                                                "the line changed after it was committed")
                _check_line(self.path, index, entry)
                yield entry["shard"]
