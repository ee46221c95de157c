"""Write a folder of files so that a crash never leaves a half-written file in place.

What it is: `staged_folder(folder)`, a context manager that yields a hidden temporary sibling
folder to write into, then moves each finished file into `folder` with `os.replace` (atomic on
one filesystem). On error the temporary folder is removed and `folder` is left untouched.

What it is NOT: not a transaction over the whole folder (files appear one by one), and it does
not delete files already in `folder` that the new build does not write.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_folder(folder: Path | str) -> Iterator[Path]:
    """Yield a temporary folder; on success move its files (recursively) into `folder`."""
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    )
    try:
        yield staging
        for source in sorted(p for p in staging.rglob("*") if p.is_file()):
            destination = target / source.relative_to(staging)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
