"""Apply a patch to a third-party module once per process, whichever thread asks first.

``once(patch)`` returns a function that runs ``patch()`` (which returns whether it could apply
itself) the first time it is called and answers that same result ever after. Used by the GGUF
loading patches (``gguf_progress``, ``gguf_fast``). This module is NOT responsible for what is
patched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def once(patch: Callable[[], bool]) -> Callable[[], bool]:
    lock = threading.Lock()
    result: list[bool] = []

    def install() -> bool:
        with lock:
            if not result:
                result.append(patch())
            return result[0]

    return install
