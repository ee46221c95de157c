"""patch_once.once: the patch runs once, whichever of several threads asks first."""

from __future__ import annotations

import threading
import time

from interpstudio.ml.patch_once import once


def test_the_patch_runs_once_and_its_answer_is_kept() -> None:
    calls: list[int] = []

    def patch() -> bool:
        calls.append(1)
        time.sleep(0.05)  # a slow patch: the other threads arrive while it runs
        return False

    install = once(patch)
    answers: list[bool] = []
    threads = [threading.Thread(target=lambda: answers.append(install())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1] and answers == [False] * 8 and install() is False
