"""Apply a patch to a third-party module once per process, whichever thread asks first.

``once(patch)`` returns a function that runs ``patch()`` (which returns whether it could apply
itself) the first time it is called and answers that same result ever after. ``set_in_thread``
gives a thread-local attribute a value while a block runs (how a patch knows what the calling
thread asked of it). Used by the loading patches (``gguf_progress``, ``gguf_fast``,
``hf_bars``). This module is NOT responsible for what is patched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def once(patch: Callable[[], bool]) -> Callable[[], bool]:
    lock = threading.Lock()
    result: list[bool] = []

    def install() -> bool:
        with lock:
            if not result:
                result.append(patch())
            return result[0]

    return install


@contextmanager
def set_in_thread(local: threading.local, name: str, value: Any) -> Iterator[None]:
    """``local.<name>`` is ``value`` in this thread while the block runs, then what it was."""
    previous = getattr(local, name, None)
    setattr(local, name, value)
    try:
        yield
    finally:
        setattr(local, name, previous)
