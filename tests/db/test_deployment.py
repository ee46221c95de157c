"""The deployment's key (it names the Redis event channel): made once per database, the same for
every process reading it, another in another database; both backends."""

from __future__ import annotations

from pathlib import Path

from helpers import make_settings
from interpstudio.db.migrate import upgrade
from interpstudio.db.repositories.deployment import deployment_key
from interpstudio.db.session import make_engine, make_session_factory


def test_the_key_is_made_once_and_shared_by_every_process(settings, tmp_path: Path) -> None:
    engines = [make_engine(settings.resolved_database_url) for _ in range(2)]
    other = make_settings(tmp_path / "other")
    upgrade(other.resolved_database_url)
    engines.append(make_engine(other.resolved_database_url))
    try:
        first, again, elsewhere = (deployment_key(make_session_factory(e)) for e in engines)
    finally:
        for engine in engines:
            engine.dispose()
    assert first == again and len(first) == 32
    assert elsewhere != first


def test_a_process_with_another_data_dir_is_refused(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Found by the scale-out tester: a worker given its own data dir ran jobs whose files the
    API never found (a "ready" model with no architecture, previews answering 500, an access
    token left in the wrong folder). Both backends."""
    import threading

    import pytest

    from interpstudio.db.repositories.deployment import (
        DATA_DIR_MARKER,
        DataDirMismatch,
        check_data_dir,
    )

    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    try:
        shared, wrong, foreign = tmp_path / "shared", tmp_path / "wrong", tmp_path / "foreign"
        errors: list[BaseException] = []

        def start() -> None:  # two processes of a new deployment starting at once, one data dir
            try:
                check_data_dir(factory, shared)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        check_data_dir(factory, shared)  # again: still fine
        with pytest.raises(DataDirMismatch, match=f"holds no {DATA_DIR_MARKER} marker"):
            check_data_dir(factory, wrong)
        assert not (wrong / DATA_DIR_MARKER).exists()
        foreign.mkdir()
        (foreign / DATA_DIR_MARKER).write_text("0" * 32)
        with pytest.raises(DataDirMismatch, match="another deployment's marker"):
            check_data_dir(factory, foreign)
    finally:
        engine.dispose()


def test_a_worker_on_another_data_dir_stops_in_one_line(tmp_path: Path,  # type: ignore[no-untyped-def]
                                                        postgres_url: str) -> None:
    import os
    import subprocess
    import sys

    def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(data_dir),
               "INTERPSTUDIO_DATABASE_URL": postgres_url}
        return subprocess.run([sys.executable, "-m", "interpstudio", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    assert cli(tmp_path / "api", "jobs", "list").returncode == 0  # the deployment's data dir
    refused = cli(tmp_path / "gpu-box", "worker")
    assert refused.returncode == 2
    assert "is not the data dir the rest of this deployment uses" in refused.stderr
    assert "Traceback" not in refused.stderr
