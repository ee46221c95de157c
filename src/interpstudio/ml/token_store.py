"""The on-disk format of a tokenized dataset: flat token ids + per-sequence offsets, memory-mapped.

A tokenization folder holds:
- ``tokens.npy``  (N_tokens,) uint32 — every sequence's token ids, concatenated; no padding ever;
- ``offsets.npy`` (N_seq + 1,) int64 — sequence ``i`` is ``tokens[offsets[i]:offsets[i+1]]``;
- ``source_rows.npy`` (N_seq,) int64 — the dataset row each sequence came from (-1 for packed
  windows that span rows);
- ``manifest.json`` — tokenizer identity, the policy, counts, status, format version.

``TokenStoreWriter`` appends sequences chunk by chunk to ``*.partial`` files (flat memory) and
``finish()`` renames them whole; ``open_tokenized(path)`` returns a lazy reader. Resume: a writer
opened on a folder with partial files continues after the last committed chunk
(``committed_sequences``). A finished folder whose files cannot be read or do not fit together
(junk bytes, a cut file, offsets past the last token) is ``TokenizationDamaged``, raised by
``open_tokenized``: every reader (an extraction's check, its preflight, the preview) opens the
folder through it, so none meets numpy's own message ("contains pickled (object) data ...
allow_pickle"), which reads as a bug and says nothing of what to do. This module is NOT
responsible for tokenizing text (``ml/tokenize.py``) or for choosing a policy.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interpstudio.core.errors import AppError
from interpstudio.ml.npy_load import load_npy, npy_problem

FORMAT_VERSION = 1
TOKEN_DTYPE = np.uint32


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    os.replace(temp, path)


def _stream_to_npy(raw: Path, destination: Path, dtype: np.dtype[Any] | type) -> int:
    """Wrap a raw little-endian array file in an ``.npy`` header, copying in chunks (flat RSS)."""
    dtype = np.dtype(dtype)
    count = raw.stat().st_size // dtype.itemsize
    temp = destination.with_name(destination.name + ".tmp")
    header = {
        "descr": np.lib.format.dtype_to_descr(dtype),
        "fortran_order": False,
        "shape": (count,),
    }
    with open(temp, "wb") as out, open(raw, "rb") as source:
        np.lib.format.write_array_header_1_0(out, header)
        shutil.copyfileobj(source, out, 16 * 1024 * 1024)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, destination)
    return int(count)


class TokenStoreWriter:
    """Appends tokenized sequences; crash-safe through a committed-length journal."""

    def __init__(self, folder: Path, *, meta: dict[str, Any]) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.meta = meta
        self._journal = folder / "progress.json"
        self._tokens_path = folder / "tokens.u32.partial"
        self._rows_path = folder / "rows.i64.partial"
        self._lengths_path = folder / "lengths.i64.partial"
        state = json.loads(self._journal.read_text()) if self._journal.exists() else {}
        self.committed_sequences = int(state.get("sequences", 0))
        self.committed_tokens = int(state.get("tokens", 0))
        self.extra: dict[str, Any] = dict(state.get("extra", {}))
        # drop bytes written after the last commit (a crash between write and journal)
        for path, count in (
            (self._tokens_path, self.committed_tokens * 4),
            (self._rows_path, self.committed_sequences * 8),
            (self._lengths_path, self.committed_sequences * 8),
        ):
            with open(path, "ab") as handle:
                handle.truncate(count)

    def append(
        self,
        sequences: Sequence[Sequence[int]],
        source_rows: Sequence[int],
        *,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Append whole sequences and commit them (with ``extra`` resume state) atomically."""
        if len(sequences) != len(source_rows):
            raise ValueError("one source row per sequence")
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        flat = (
            np.concatenate([np.asarray(s, dtype=TOKEN_DTYPE) for s in sequences])
            if len(sequences)
            else np.zeros(0, dtype=TOKEN_DTYPE)
        )  # (sum(lengths),)
        for path, array in (
            (self._tokens_path, flat),
            (self._rows_path, np.asarray(source_rows, dtype=np.int64)),
            (self._lengths_path, lengths),
        ):
            with open(path, "ab") as handle:
                handle.write(array.tobytes())
                handle.flush()
                os.fsync(handle.fileno())
        self.committed_sequences += len(sequences)
        self.committed_tokens += int(lengths.sum())
        if extra is not None:
            self.extra = extra
        _write_json_atomic(
            self._journal,
            {
                "sequences": self.committed_sequences,
                "tokens": self.committed_tokens,
                "extra": self.extra,
            },
        )

    def finish(self, *, counts: dict[str, Any], stats: dict[str, Any] | None = None) -> Path:
        """Turn the partial files into the final ``.npy`` files and write the manifest."""
        lengths = np.fromfile(self._lengths_path, dtype=np.int64)  # (N_seq,) small
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        temp = self.folder / "offsets.npy.tmp.npy"
        np.save(temp, offsets)
        os.replace(temp, self.folder / "offsets.npy")
        n_tokens = _stream_to_npy(self._tokens_path, self.folder / "tokens.npy", TOKEN_DTYPE)
        _stream_to_npy(self._rows_path, self.folder / "source_rows.npy", np.dtype(np.int64))
        manifest = {
            **self.meta,
            "format_version": FORMAT_VERSION,
            "status": "complete",
            "counts": {**counts, "sequences": len(lengths), "tokens": n_tokens},
            "stats": stats or {},
        }
        _write_json_atomic(self.folder / "manifest.json", manifest)
        for path in (self._tokens_path, self._rows_path, self._lengths_path, self._journal):
            path.unlink(missing_ok=True)
        return self.folder


@dataclass
class TokenizedDataset:
    """Lazy, memory-mapped view of a finished tokenization folder."""

    folder: Path
    tokens: np.ndarray  # (N_tokens,) uint32, memory-mapped
    offsets: np.ndarray  # (N_seq + 1,) int64
    source_rows: np.ndarray  # (N_seq,) int64
    manifest: dict[str, Any]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    @property
    def tokenizer_key(self) -> str:
        return str(self.manifest.get("tokenizer_key", ""))

    @property
    def policy(self) -> dict[str, Any]:
        return dict(self.manifest.get("policy", {}))

    def sequence(self, index: int) -> np.ndarray:
        return self.tokens[self.offsets[index] : self.offsets[index + 1]]

    def __repr__(self) -> str:
        """What a notebook shows: folder, counts, policy and tokenizer (the dataclass's own repr
        printed the memory-mapped arrays and the whole manifest)."""
        policy = self.policy
        shape = f"{policy.get('mode', '?')} to {policy.get('max_length', '?')} tokens"
        return (f"TokenizedDataset({str(self.folder)!r}, {len(self):,} sequences, "
                f"{self.n_tokens:,} tokens, {shape}, tokenizer {self.tokenizer_key!r})")

    def iter_sequences(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        for index in range(start, len(self) if stop is None else min(stop, len(self))):
            yield self.sequence(index)


class TokenizationDamaged(AppError):
    """A finished tokenization's file cannot be read, or its files do not fit together."""

    code = "tokenization_damaged"

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"the tokenization file {path} is damaged ({problem}); the tokenization cannot be "
            "read as it is: delete it and tokenize the dataset again",
            details={"path": str(path), "problem": problem},
        )


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise TokenizationDamaged(path, f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise TokenizationDamaged(path, f"holds a JSON {type(manifest).__name__}, not an object")
    return manifest


def _read_array(path: Path, dtype: type, *, mmap: bool = True) -> np.ndarray:
    """The 1-D array of ``dtype`` in ``path``; anything else (junk bytes, which numpy reports as
    pickled data, a cut file, a missing one) is ``TokenizationDamaged`` naming the file."""
    try:
        array = load_npy(path, mmap=mmap)
    except (OSError, ValueError, EOFError) as exc:
        raise TokenizationDamaged(path, npy_problem(exc)) from exc
    if array.ndim != 1 or array.dtype != np.dtype(dtype):
        raise TokenizationDamaged(path, f"holds a {array.dtype} array of shape {array.shape}, "
                                        f"not a 1-D {np.dtype(dtype)} one")
    return array


def _check_fit(path: Path, tokens: np.ndarray, offsets: np.ndarray,
               source_rows: np.ndarray) -> None:
    """The three arrays describe the same sequences (offsets start at 0, never go back and end
    at the last token; one source row per sequence)."""
    if len(offsets) == 0 or offsets[0] != 0 or bool((offsets[1:] < offsets[:-1]).any()):
        raise TokenizationDamaged(path / "offsets.npy", "its offsets do not start at 0 and rise")
    if int(offsets[-1]) != len(tokens):
        raise TokenizationDamaged(path / "tokens.npy", f"holds {len(tokens):,} tokens, "
                                  f"offsets.npy ends at {int(offsets[-1]):,}")
    if len(source_rows) != len(offsets) - 1:
        raise TokenizationDamaged(path / "source_rows.npy", f"holds {len(source_rows):,} rows "
                                  f"for {len(offsets) - 1:,} sequences")


def open_tokenized(folder: str | os.PathLike[str]) -> TokenizedDataset:
    """A lazy reader of the finished tokenization in ``folder``: FileNotFoundError when it is
    none (no ``manifest.json``, or no ``tokens.npy`` beside it), ``TokenizationDamaged`` when one
    of its files cannot be read or the files do not fit together."""
    path = Path(folder)
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{path} is not a finished tokenization (no manifest.json)")
    manifest = _read_manifest(manifest_path)
    if not (path / "tokens.npy").is_file():  # another manifest: an activation store, say
        what = ("an activation store (open it with open_activations)"
                if str(manifest.get("format", "")).endswith("activations") else "not one")
        raise FileNotFoundError(
            f"{path} is not a tokenization folder (no tokens.npy): its manifest.json is {what}; "
            "give the folder tokenize_texts or a tokenize job wrote")
    tokens = _read_array(path / "tokens.npy", TOKEN_DTYPE)
    offsets = _read_array(path / "offsets.npy", np.int64, mmap=False)
    source_rows = _read_array(path / "source_rows.npy", np.int64)
    _check_fit(path, tokens, offsets, source_rows)
    return TokenizedDataset(folder=path, tokens=tokens, offsets=offsets,
                            source_rows=source_rows, manifest=manifest)
