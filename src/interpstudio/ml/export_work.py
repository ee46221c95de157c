"""The work folder an export builds its dataset in, beside its target, and the sweep of the
ones that exports killed mid-way left behind.

``work_folder(target)`` makes ``.<name>.export-tmp-<random>`` beside ``target`` and holds an
exclusive ``flock`` on its ``.lock`` until the block ends (the folder is deleted first): the
kernel drops the lock when the process dies, however it dies. ``sweep_abandoned(target)``
deletes every such folder of ``target`` whose lock it can take, i.e. whose export is no longer
running; a running export's (in this process or another, on this machine or another one over
shared storage) is left alone, and so is a folder with no ``.lock`` yet (one being made this
instant).

Why: an export killed with SIGKILL (OOM killer, ``kill -9``, a machine restart) never ran its
clean-up, and its folder of dataset blocks, up to the size of the whole export, stayed hidden
in the extraction's folder until the extraction was deleted, also counted against the next
export's free-disk check.

This module is NOT responsible for what goes in the folder or the swap into the target
(``export.write_export``).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_LOCK = ".lock"


def _prefix(target: Path) -> str:
    return f".{target.name}.export-tmp-"


@contextlib.contextmanager
def work_folder(target: Path) -> Iterator[Path]:
    """A new work folder beside ``target``, locked while the block runs, deleted at its end."""
    # a name of its own: two exports to one target in one process (two requests) each had
    # ".<name>.export-tmp-<pid>" and deleted the other's blocks
    work = Path(tempfile.mkdtemp(prefix=_prefix(target), dir=target.parent))
    fd = os.open(work / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a new file: nobody else holds it
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.close(fd)  # only now: a sweep that takes the lock finds the folder gone


def sweep_abandoned(target: Path) -> list[Path]:
    """Delete the work folders of ``target`` that no running export holds; returns them."""
    swept = []
    pattern = str(target.parent / (glob.escape(_prefix(target)) + "*"))
    for folder in map(Path, glob.glob(pattern)):
        try:
            fd = os.open(folder / _LOCK, os.O_RDWR)
        except OSError:  # no lock yet (being made), or gone meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a running export's
        else:
            shutil.rmtree(folder, ignore_errors=True)
            swept.append(folder)
        finally:
            os.close(fd)
    return swept
