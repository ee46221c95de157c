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
