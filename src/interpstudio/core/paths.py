"""Paths inside the data directory, and the one guard against escaping it.

Every file the app writes lives under ``Settings.data_dir``; user-supplied relative names go through
``safe_join`` and user-supplied absolute paths through ``ensure_within`` so that no path, link or
``..`` can leave its root. This module is NOT responsible for creating files or choosing formats.
"""

from __future__ import annotations

import os
from pathlib import Path

from interpstudio.core.errors import InvalidInput, PathOutsideRoot
from interpstudio.core.settings import Settings

IMPORT_ROOTS_HINT = ("copy it into one of them, or add its folder to INTERPSTUDIO_IMPORT_ROOTS "
                     "(a JSON list, e.g. '[\"/data/models\"]') where the app runs")


def within_import_roots(path: str | os.PathLike[str], settings: Settings) -> Path:
    """``path`` resolved, if a local import may read it: inside ``settings.import_roots`` or the
    data dir, but never the data dir's folder of access tokens handed to queued downloads
    (``DataPaths.tokens``: a key holder could import ``job-N.token`` as a dataset and preview
    it); otherwise the refusal says which folders are allowed and how to add one."""
    resolved = ensure_within(path, [*settings.import_roots, settings.data_dir],
                             hint=IMPORT_ROOTS_HINT)
    tokens = DataPaths(settings.data_dir).tokens.resolve()
    if resolved == tokens or resolved.is_relative_to(tokens):
        raise PathOutsideRoot(str(path), [str(r) for r in [*settings.import_roots,
                                                            settings.data_dir]],
                              f"{tokens} holds access tokens and is never imported")
    return resolved


def ensure_within(path: str | os.PathLike[str], roots: list[Path],
                  hint: str | None = None) -> Path:
    """Resolve ``path`` (following links) and return it if it lies inside one of ``roots``;
    ``hint`` (what to do instead) ends the refusal's message. ``~user`` of an unknown user and a
    NUL character are ``InvalidInput``, not a crash."""
    if "\x00" in os.fspath(path):
        raise InvalidInput("the path contains a NUL character; give a real path",
                           details={"path": os.fspath(path).replace("\x00", "\\0")})
    try:
        resolved = Path(path).expanduser().resolve()
    except RuntimeError as exc:  # "~name" of a user this machine does not have
        user = Path(path).parts[0][1:]
        raise InvalidInput(
            f"cannot expand {str(path)!r}: there is no user named {user!r} on this machine; "
            "give an absolute path", details={"path": str(path)}) from exc
    for root in roots:
        root_resolved = root.expanduser().resolve()
        if resolved == root_resolved or resolved.is_relative_to(root_resolved):
            return resolved
    raise PathOutsideRoot(str(path), [str(r) for r in roots], hint)


def safe_join(root: Path, *parts: str) -> Path:
    """Join user-supplied ``parts`` below ``root``; refuse absolute parts and escapes."""
    for part in parts:
        if Path(part).is_absolute():
            raise PathOutsideRoot(part, [str(root)])
    return ensure_within(root.joinpath(*parts), [root])


class DataPaths:
    """Where each kind of thing lives under the data dir (created on demand)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir

    def ensure(self) -> None:
        for sub in (self.root, self.jobs, self.models, self.datasets, self.extractions, self.tmp):
            sub.mkdir(parents=True, exist_ok=True)

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def extractions(self) -> Path:
        return self.root / "extractions"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def tokens(self) -> Path:
        """Access tokens handed to queued downloads (``services/model_files``), one file a job."""
        return self.tmp / "tokens"

    def job_dir(self, job_id: int) -> Path:
        return self.jobs / str(int(job_id))
