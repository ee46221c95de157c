"""The data dir is an import root, but its folder of access tokens is not (found by the security
audit: while a gated download is queued, ``tmp/tokens/job-N.token`` passed the path guard of
every local import; only the importers' file-type checks stood between it and a preview)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import make_settings
from interpstudio.core.errors import PathOutsideRoot
from interpstudio.core.paths import DataPaths, within_import_roots
from interpstudio.services.model_files import hand_token_to_job, token_file


def test_a_token_file_or_its_folder_is_never_an_import_source(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    paths = DataPaths(settings.data_dir)
    hand_token_to_job(paths, 7, "hf_secret_token")
    secret = token_file(paths, 7)
    for path in (secret, secret.parent, paths.tmp / "tokens" / ".." / "tokens" / secret.name):
        with pytest.raises(PathOutsideRoot, match="holds access tokens"):
            within_import_roots(path, settings)
    assert within_import_roots(paths.tmp, settings) == paths.tmp.resolve()  # the rest is not
