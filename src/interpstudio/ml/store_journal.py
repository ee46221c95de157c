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

This module only knows lines and bytes: what a line means for the manifest (``store.read_manifest``
merges the journal into ``manifest.json``'s header) and when to append (``store_writer``) are
decided elsewhere. It imports nothing from the other store modules, so ``store`` can use it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _check_line(path: Path, index: int, entry: Any) -> None:
    shard = entry.get("shard") if isinstance(entry, dict) else None
    if not isinstance(shard, dict) or "counts" not in entry:
        raise StoreJournalCorrupted(path, index, "not a shard commit record")
    if shard.get("index") != index:
        raise StoreJournalCorrupted(
            path, index, f"holds shard {shard.get('index')!r}, line {index + 1} must hold shard "
            f"{index}"
        )


def append_line(path: Path, entry: dict[str, Any], *, durable: bool) -> None:
    """Append ``entry`` as one line (the commit point of its shard); fsync it if ``durable``.

    The journal must exist (the writer creates it when it opens the store). On any error the file
    is cut back to its previous length and the error propagates."""
    data = orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        end = os.fstat(fd).st_size
        try:
            view = memoryview(data)
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
    end = _end_of_line(path, lines)
    if end != path.stat().st_size:
        os.truncate(path, end)
    if durable:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _end_of_line(path: Path, lines: int) -> int:
    """Byte offset just past the ``lines``-th newline of ``path``."""
    offset = 0
    seen = 0
    with open(path, "rb") as f:
        while seen < lines and (block := f.read(_BLOCK)):
            at = -1
            while seen < lines and (at := block.find(b"\n", at + 1)) >= 0:
                seen += 1
                if seen == lines:
                    return offset + at + 1
            offset += len(block)
    if seen < lines:
        raise StoreJournalCorrupted(path, seen, f"has {seen} whole line(s), {lines} expected")
    return 0
