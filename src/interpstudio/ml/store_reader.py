"""Lazy, memory-mapped reading of an activation store.

``open_activations(path)`` reads the manifest (``store.read_manifest``: ``manifest.json``, plus
the shard journal while the store is not complete) and nothing else. ``acts["blocks.3.resid_post"]``
is a ``ShardedArray`` that looks like one ``(rows, d)`` array: ``shape``, ``dtype``, ``len``,
indexing with an int, a slice or an integer array returns a numpy array read from only the shards
it touches (each shard is ``np.load(..., mmap_mode="r")``-ed on first use), iterating yields
one shard at a time, and ``np.asarray`` reads every row (as ``[:]``). ``acts.tokens`` is the
same for the ``(rows, 3)`` int64 token table (token_id, sequence_index, position) and
``acts.norms(hook)`` for the per-row L2 norms.

bfloat16 stores are returned as float32 (exact); ``read_raw`` returns the stored uint16 bits.
Only the shards committed when it was opened are visible, so a store that is still being written,
or that was interrupted, reads as its whole shards.

This module is NOT responsible for writing stores (``store_writer``) or for exporting them
(``export``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from interpstudio.core.errors import InvalidInput
from interpstudio.ml import store as layout
from interpstudio.ml.npy_load import load_npy, npy_problem
from interpstudio.ml.store import HookPointNotStored, StoreCorrupted


class ShardedArray:
    """A read-only ``(rows, width)`` (or ``(rows,)``) array stored as shards; see module doc."""

    def __init__(
        self,
        files: list[Path],
        rows: list[int],
        width: int | None,
        stored_dtype: np.dtype[Any],
        decoded_as: str,
        store: Path | None = None,
    ) -> None:
        self.files = files
        self.store = store  # the store's folder, named by ``StoreCorrupted`` (else the file's)
        self.shard_rows = rows
        self.offsets = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])  # (shards + 1,)
        self.width = width
        self.stored_dtype = stored_dtype
        self._decoded_as = decoded_as  # storage dtype name, e.g. "bfloat16"
        self._maps: dict[int, np.ndarray] = {}

    @property
    def shape(self) -> tuple[int, ...]:
        n = int(self.offsets[-1])
        return (n,) if self.width is None else (n, self.width)

    @property
    def dtype(self) -> np.dtype[Any]:
        """dtype of what indexing returns (float32 for bfloat16 stores)."""
        return np.dtype(np.float32) if self._decoded_as == "bfloat16" else self.stored_dtype

    @property
    def nbytes(self) -> int:
        """Bytes on disk (without headers)."""
        return int(np.prod(self.shape)) * self.stored_dtype.itemsize

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __repr__(self) -> str:
        shards = len(self.files)
        return f"ShardedArray(shape={self.shape}, dtype={self._decoded_as}, shards={shards})"

    def shard(self, index: int) -> np.ndarray:
        """The memory-mapped shard ``index`` in its stored dtype (no data is read until used)."""
        if index not in self._maps:
            self._maps[index] = self._load(index)
        return self._maps[index]

    def _load(self, index: int) -> np.ndarray:
        """Shard ``index`` memory-mapped, checked against what the manifest says of it; a file
        that cannot be read (junk bytes, a cut or missing file) or holds another array is
        ``StoreCorrupted`` naming it, not numpy's own message (junk reads as "pickled data")."""
        file = self.files[index]
        try:
            array = load_npy(file)
        except (OSError, ValueError, EOFError) as exc:
            raise self._corrupted(file, npy_problem(exc)) from exc
        rows = self.shard_rows[index]
        expected = (rows,) if self.width is None else (rows, self.width)
        if array.shape != expected or array.dtype != self.stored_dtype:
            raise self._corrupted(file, f"holds a {array.dtype} array of shape {array.shape}, "
                                        f"not the {self.stored_dtype} {expected} listed")
        return array

    def _corrupted(self, file: Path, problem: str) -> StoreCorrupted:
        store = self.store or file.parent
        shown = os.path.relpath(file, store) if self.store is not None else file.name
        return StoreCorrupted(store, [{"file": shown, "problem": problem}])

    def __iter__(self) -> Iterator[np.ndarray]:
        """One decoded shard at a time (memory-mapped where no decoding is needed)."""
        for i in range(len(self.files)):
            yield self._decode(self.shard(i))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """Every row as one ``(rows, width)`` array: what ``np.asarray(acts[hook])`` reads
        (decoded, like ``[:]``). Without it numpy built the array from ``__iter__``'s shards:
        ``(shards, shard_rows, width)`` where the rows split evenly into shards (a silently
        wrong shape, whose ``mean(0)`` averaged across shards), an error otherwise."""
        if copy is False:
            raise ValueError("a store's rows are read out of its shards: reading them always "
                             "copies (use np.asarray, or copy=None)")
        rows = self[:]
        return rows if dtype is None else rows.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> np.ndarray:
        return self._decode(self.read_raw(key))

    def read_raw(self, key: Any) -> np.ndarray:
        """Like indexing, but in the stored dtype (bfloat16 as uint16 bits). ``key`` selects rows
        (int, slice, 1-D integer array, 1-D boolean mask of every row), optionally followed by a
        column index: ``[a:b, 0]``; ``...`` stands for every row (``[..., 0]``)."""
        if key is Ellipsis:
            key = slice(None)
        if isinstance(key, tuple) and key and key[0] is Ellipsis:
            key = (slice(None), *key[1:])
        if isinstance(key, tuple):
            rows, *columns = key
            picked = self.read_raw(rows)
            keeps_row_axis = isinstance(rows, slice) or np.ndim(rows) > 0
            if not keeps_row_axis:
                return picked[tuple(columns)]
            # rows and columns both arrays pair up as in numpy (``x[[1, 2], [0, 5]]`` is two
            # values): the rows read, then one column each; a slice of rows is an outer index
            paired = not isinstance(rows, slice) and any(np.ndim(c) > 0 for c in columns)
            first = np.arange(len(picked)) if paired else slice(None)
            return picked[(first, *columns)]
        n = len(self)
        if isinstance(key, (int, np.integer)):
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"row {key} is out of range for {n} rows")
            return self._read_range(i, i + 1)[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1:
                return self._read_range(start, max(start, stop))
            return self._gather(np.arange(start, stop, step, dtype=np.int64))
        index = np.asarray(key)
        if index.size == 0 and index.ndim == 1 and index.dtype.kind == "f":
            index = index.astype(np.int64)  # ``[]`` (numpy reads it as no row, not as floats)
        if index.dtype == bool and index.ndim == 1:  # a mask, e.g. ``acts.tokens[:, 2] > 0``
            if index.size != n:
                raise IndexError(f"boolean index of {index.size} rows for {n} rows")
            index = np.flatnonzero(index)
        if index.dtype.kind not in "iu" or index.ndim != 1:
            raise InvalidInput(
                "index with an int, a slice, a 1-D integer array or a 1-D boolean mask of "
                "every row",
                details={"index_dtype": str(index.dtype), "ndim": index.ndim},
            )
        index = np.where(index < 0, index + n, index).astype(np.int64)
        if index.size and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        return self._gather(index)

    def _empty(self, rows: int) -> np.ndarray:
        shape = (rows,) if self.width is None else (rows, self.width)
        return np.empty(shape, self.stored_dtype)

    def _read_range(self, start: int, stop: int) -> np.ndarray:
        out = self._empty(stop - start)
        i = int(np.searchsorted(self.offsets, start, side="right")) - 1
        done = 0
        while start + done < stop:
            lo = start + done - int(self.offsets[i])
            take = min(stop - start - done, self.shard_rows[i] - lo)
            out[done : done + take] = self.shard(i)[lo : lo + take]
            done += take
            i += 1
        return out

    def _gather(self, index: np.ndarray) -> np.ndarray:
        out = self._empty(len(index))
        shard_of = np.searchsorted(self.offsets, index, side="right") - 1
        for i in np.unique(shard_of):
            mask = shard_of == i
            out[mask] = self.shard(int(i))[index[mask] - self.offsets[i]]
        return out

    def _decode(self, raw: np.ndarray) -> np.ndarray:
        return layout.decode(raw, self._decoded_as)


class Activations(Mapping[str, ShardedArray]):
    """One activation store opened for reading; a mapping hook name -> ``ShardedArray``."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self.dtype: str = manifest["layout"]["dtype"]
        self.hook_names: list[str] = [h["name"] for h in manifest["layout"]["hooks"]]
        self._d = {h["name"]: int(h["d"]) for h in manifest["layout"]["hooks"]}
        self._rows = [int(s["rows"]) for s in manifest["shards"]]
        self._names = [s["name"] for s in manifest["shards"]]
        self._arrays: dict[str, ShardedArray] = {}
        self.tokens = self._sharded("tokens", 3, np.dtype(np.int64), "int64")

    @property
    def status(self) -> str:
        return str(self.manifest["status"])

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.manifest["spec"])

    @property
    def config_hash(self) -> str:
        return str(self.manifest["config_hash"])

    @property
    def rows(self) -> int:
        return int(self.manifest["counts"]["rows"])

    def __getitem__(self, hook: str) -> ShardedArray:
        if hook not in self._d:
            raise HookPointNotStored(hook, self.hook_names)
        if hook not in self._arrays:
            stored = layout.STORAGE_DTYPES[self.dtype]
            self._arrays[hook] = self._sharded(f"hooks/{hook}", self._d[hook], stored, self.dtype)
        return self._arrays[hook]

    def __contains__(self, hook: object) -> bool:
        return hook in self._d

    def __iter__(self) -> Iterator[str]:
        return iter(self.hook_names)

    def __len__(self) -> int:
        return len(self.hook_names)

    def __repr__(self) -> str:
        """What a notebook shows for ``acts``: status, rows, shards, dtype and the hook points
        with their widths (the first few of many)."""
        shown = [f"{h} ({self._d[h]})" for h in self.hook_names[:6]]
        if len(self.hook_names) > 6:
            shown.append(f"... {len(self.hook_names) - 6} more")
        return (f"Activations({str(self.path)!r}, {self.status}, {self.rows:,} rows in "
                f"{len(self._names):,} shard(s), {self.dtype}, {len(self.hook_names)} hook "
                f"point(s): {', '.join(shown)})")

    def norms(self, hook: str) -> ShardedArray:
        """(rows,) float64 L2 norm of each stored row of ``hook`` (NaN for non-finite rows)."""
        if hook not in self._d:
            raise HookPointNotStored(hook, self.hook_names)
        return self._sharded(f"norms/{hook}", None, np.dtype(np.float64), "float64")

    @property
    def stats(self) -> dict[str, Any] | None:
        """The ``stats.json`` document, or None while the run has not stopped."""
        if not self.manifest.get("stats"):
            return None
        result: dict[str, Any] = orjson.loads((self.path / self.manifest["stats"]).read_bytes())
        return result

    def verify(self) -> None:
        """Re-hash every listed file; raise ``StoreCorrupted`` naming each bad one."""
        problems: list[dict[str, str]] = []
        for rel, record in layout.listed_files(self.manifest):
            file = self.path / rel
            if not file.is_file():
                problems.append({"file": rel, "problem": "missing"})
            elif layout.sha256_file(file) != record["sha256"]:
                problems.append({"file": rel, "problem": "sha256 mismatch"})
        if problems:
            raise StoreCorrupted(self.path, problems)

    def _sharded(
        self, folder: str, width: int | None, stored: np.dtype[Any], decoded_as: str
    ) -> ShardedArray:
        files = [self.path / folder / name for name in self._names]
        return ShardedArray(files, self._rows, width, stored, decoded_as, store=self.path)


def open_activations(path: str | os.PathLike[str]) -> Activations:
    """Open the store at ``path`` lazily: only the manifest (and journal) is read now. ``path``
    may also be the app's extraction folder (``<data dir>/extractions/<id>``), whose ``store``
    it then opens."""
    directory = Path(path)
    inner = directory / layout.APP_STORE_DIR
    if (not (directory / layout.MANIFEST_NAME).is_file()
            and (inner / layout.MANIFEST_NAME).is_file()):
        directory = inner
    return Activations(directory, layout.read_manifest(directory))
