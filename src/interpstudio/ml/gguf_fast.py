"""One parse of a GGUF file per load, where transformers' GGUF loading does three and more.

Loading a GGUF model with transformers reads the file's metadata three times (the config, the
weights and the tokenizer each build a ``gguf.GGUFReader``) and builds gguf's tensor-name map
once per module of the model. For the bundled SmolLM2-135M (49,152 vocabulary strings and as
many merges, 30 layers) on 2 CPU cores each parse took ~1.8 s and the 397 name maps ~3 s:
converting it took 15.0-15.9 s, loading it 11.9-12.9 s; with this module 4.8 and 2.0 s.

``shared_reads()`` is a context manager: while it is active (in any thread), a GGUF file whose
path, size and modification time are unchanged is parsed once and that reader is handed out
again; afterwards nothing is kept. Always, once installed: a reader slices a plain ndarray view
of the file's mapping instead of the ``memmap`` itself (same bytes, same fields and tensors; a
parse 1.8 -> 0.5 s, the ``memmap`` subclass's bookkeeping on each of ~750,000 tiny slices was
the cost), and the tensor-name map is built once per (architecture, block count) (it is
read-only once built). These work by replacing ``gguf.GGUFReader`` (with a subclass) and
``gguf.get_tensor_name_map``, which transformers imports from the ``gguf`` package at call time;
if gguf renames them nothing is replaced and loading works as before, only slower.

This module is NOT responsible for loading or converting (``loading.py``) or progress
(``gguf_progress.py``).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from interpstudio.ml.patch_once import once

_lock = threading.Lock()
_active = 0  # open shared_reads() blocks
_readers: dict[tuple[str, int, int], Any] = {}  # (real path, size, mtime_ns) -> reader


@contextmanager
def shared_reads() -> Iterator[None]:
    """Parse each GGUF file once while the block runs (see the module docstring)."""
    global _active
    if not _install():
        yield
        return
    with _lock:
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                _readers.clear()  # the parsed fields are tens of MB of small arrays


def _patch() -> bool:
    try:
        import gguf
    except ImportError:
        return False
    base = getattr(gguf, "GGUFReader", None)
    name_map = getattr(gguf, "get_tensor_name_map", None)
    if not isinstance(base, type) or not callable(name_map) or not hasattr(base, "_get"):
        return False

    class SharedReader(base):  # type: ignore[misc, valid-type]
        """``GGUFReader`` whose slices are plain ndarrays over the same mapping, made once per
        file while ``shared_reads()`` is active (``__new__`` hands the parsed reader out
        again; ``__init__`` then does nothing)."""

        _plain: np.ndarray | None = None
        _parsed = False

        def __new__(cls, path: os.PathLike[str] | str, mode: str = "r") -> Any:
            key = _key(path) if mode == "r" and _active else None
            with _lock:
                found = _readers.get(key) if key is not None else None
            if found is not None:
                return found
            made = super().__new__(cls)
            made._cache_key = key
            return made

        def __init__(self, path: os.PathLike[str] | str, mode: str = "r") -> None:
            if self._parsed:
                return
            super().__init__(path, mode)
            self._parsed = True
            with _lock:
                if self._cache_key is not None and _active:
                    _readers[self._cache_key] = self

        def _get(self, offset: int, dtype: Any, count: int = 1,
                 override_order: str | None = None) -> np.ndarray:
            plain = self._plain  # set on the first read: ``data`` is mapped by then, once
            if plain is None:
                plain = self._plain = self.data.view(np.ndarray)
            count = int(count)
            kind = np.dtype(dtype)
            arr = plain[offset:offset + kind.itemsize * count].view(kind)[:count]
            order = self.byte_order if override_order is None else override_order
            return arr.view(arr.dtype.newbyteorder(order))

    gguf.GGUFReader = SharedReader
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=32)(name_map)
    return True


def _key(path: os.PathLike[str] | str) -> tuple[str, int, int]:
    real = os.path.realpath(path)
    info = os.stat(real)
    return (real, info.st_size, info.st_mtime_ns)


_install = once(_patch)
