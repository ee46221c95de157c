"""Tensor-by-tensor progress of transformers' GGUF loading, which only draws its own tqdm bar.

``reporting(callback)`` is a context manager: while it is active in this thread, the loop of
``transformers.modeling_gguf_pytorch_utils`` that dequantizes the GGUF's tensors one by one calls
``callback(0, total)`` as it starts and ``callback(done, total)`` after each tensor, and draws no
bar. Other threads and callers see
transformers' bar as before. It works by giving that module a ``tqdm`` subclass (installed once)
that looks for the current thread's callback; with a transformers version that has no such name,
nothing is reported and loading works as before.

Why: converting a large GGUF takes minutes; without this the import job could only show a stage
name, not how far it is (pitfall 1: progress that never moves). The report as the loop starts
marks where reading the file's metadata ends and dequantizing begins (``loading.CONVERT_STEPS``).

This module is NOT responsible for loading or converting (``loading.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from interpstudio.ml.patch_once import once, set_in_thread

TensorProgress = Callable[[int, int | None], None]  # (tensors done, tensors in the file)

_local = threading.local()


@contextmanager
def reporting(callback: TensorProgress | None) -> Iterator[None]:
    """Report GGUF tensors dequantized in this thread to ``callback`` while the block runs."""
    if callback is None or not _install():
        yield
        return
    with set_in_thread(_local, "callback", callback):
        yield


def _patch() -> bool:
    try:
        from transformers import modeling_gguf_pytorch_utils as module
    except ImportError:
        return False
    base = getattr(module, "tqdm", None)
    if not isinstance(base, type):
        return False

    class ReportingTqdm(base):  # type: ignore[misc, valid-type]
        def __init__(self, iterable: Any = None, *args: Any, **kwargs: Any) -> None:
            self._report: TensorProgress | None = getattr(_local, "callback", None)
            if self._report is not None:
                kwargs["disable"] = True  # the callback replaces the bar
            super().__init__(iterable, *args, **kwargs)

        def __iter__(self) -> Iterator[Any]:
            report = self._report
            if report is None:
                yield from super().__iter__()
                return
            items = self.iterable
            total = len(items) if hasattr(items, "__len__") else None
            report(0, total)  # the metadata is read: the tensors start
            for done, item in enumerate(items, 1):
                yield item
                report(done, total)  # the loop asked for the next one: this one is done

    module.tqdm = ReportingTqdm
    return True


_install = once(_patch)
