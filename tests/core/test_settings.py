"""Settings: INTERPSTUDIO_ environment variables, defaults, and errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from interpstudio.core.settings import SettingsError, get_settings


def test_defaults_are_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = get_settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'interpstudio.db'}"
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.api_key is None and settings.broker_url is None


def test_environment_variables_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERPSTUDIO_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("INTERPSTUDIO_PORT", "9001")
    monkeypatch.setenv("INTERPSTUDIO_WORKERS", "3")
    monkeypatch.setenv("INTERPSTUDIO_HF_ENDPOINT", "http://127.0.0.1:5555/")
    monkeypatch.setenv("INTERPSTUDIO_MEMORY_BUDGET_BYTES", "1000000")
    settings = get_settings()
    assert settings.data_dir == tmp_path / "d"
    assert (settings.port, settings.workers) == (9001, 3)
    assert settings.hf_endpoint == "http://127.0.0.1:5555"
    assert settings.memory_budget_bytes == 1_000_000


@pytest.mark.parametrize(("variable", "value"), [
    ("INTERPSTUDIO_PORT", "eighty"), ("INTERPSTUDIO_PORT", "70000"),
    ("INTERPSTUDIO_WORKERS", "-1"), ("INTERPSTUDIO_HF_ENDPOINT", "ftp://x"),
    ("INTERPSTUDIO_DATABASE_URL", "mysql://x"), ("INTERPSTUDIO_LOG_LEVEL", "LOUD"),
    # found by a tester: a list that is not JSON (the obvious plain path) was a 23-frame traceback
    ("INTERPSTUDIO_IMPORT_ROOTS", "/tmp"), ("INTERPSTUDIO_CORS_ORIGINS", "notjson"),
    ("INTERPSTUDIO_ALLOWED_HOSTS", "studio.lan"),
    # found by the scale-out tester: each was a ~110-line traceback when the app started
    ("INTERPSTUDIO_BROKER_URL", "127.0.0.1:6379"), ("INTERPSTUDIO_BROKER_URL", "http://redis"),
    ("INTERPSTUDIO_BROKER_URL", "redis://redis/events"), ("INTERPSTUDIO_BROKER_URL", ""),
    ("INTERPSTUDIO_BROKER_URL", "redis://redis:port/0"), ("INTERPSTUDIO_BROKER_URL", "redis:///0"),
])
def test_invalid_values_fail_naming_the_variable(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert variable in info.value.message


def test_api_key_is_secret_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERPSTUDIO_API_KEY", "topsecret-0123456789")
    settings = get_settings()
    assert "topsecret" not in repr(settings) and "topsecret" not in str(settings.model_dump())


def test_an_empty_or_short_api_key_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a tester: ``INTERPSTUDIO_API_KEY=`` (a variable set from an unset one) passed the
    off-loopback check, and an empty ``X-API-Key`` header then matched it."""
    for key in ("", "   ", "short-key"):
        monkeypatch.setenv("INTERPSTUDIO_API_KEY", key)
        with pytest.raises(SettingsError) as info:
            get_settings(host="0.0.0.0")
        assert "INTERPSTUDIO_API_KEY" in info.value.message and "16" in info.value.message
