"""``np.load`` that is safe to call from several threads at once.

numpy parses a ``.npy`` header (and each ``.npz`` member's) with ``ast.literal_eval``. On CPython
3.11 (seen on 3.11.7) the AST constructor keeps its recursion depth per interpreter, not per thread,
so two threads parsing at the same time can fail with ``SystemError: AST constructor recursion
depth mismatch`` (cpython gh-106905; it failed an extraction in this test suite once the writer's
pool finalized hook points in parallel, and the API reads stores from request threads). Every
``np.load`` in this package goes through here, one at a time: opening a memory map takes
microseconds, so the lock costs nothing measurable.

``npy_problem`` says what is wrong with a file ``np.load`` refused, in a reader's words (numpy
calls junk bytes "pickled (object) data" and suggests ``allow_pickle``). This module is NOT
responsible for what the files hold (``store``, ``token_store``).
"""

from __future__ import annotations

import os
import threading

import numpy as np

_PARSING = threading.Lock()


def load_npy(path: str | os.PathLike[str], *, mmap: bool = True) -> np.ndarray:
    """The array in ``path``, memory-mapped read-only (``mmap=False``: read into memory)."""
    with _PARSING:
        return np.load(path, mmap_mode="r" if mmap else None)


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path``, read into memory."""
    with _PARSING, np.load(path) as archive:
        return {key: archive[key] for key in archive.files}


def npy_problem(exc: BaseException) -> str:
    """What is wrong with a ``.npy`` file that ``np.load`` refused, in a reader's words."""
    if isinstance(exc, FileNotFoundError):
        return "the file is missing"
    if isinstance(exc, EOFError):
        return "the file is empty"
    if "pickled" in str(exc):  # numpy's word for bytes that are not an .npy header
        return "it does not start with an .npy header: junk bytes or another kind of file"
    return f"{type(exc).__name__}: {exc}"  # a cut file: 'mmap length is greater than ...'
