"""Settings: every knob of the app, read from ``INTERPSTUDIO_*`` environment variables.

``get_settings()`` builds a validated ``Settings`` once per call; the result is passed explicitly
to whatever needs it (app factory, worker, CLI). Nothing reads the environment at import time and
there is no module-level singleton, so tests build their own ``Settings(...)``.

Invalid values fail here, at start-up, with a message naming the environment variable
(``SettingsError``). This module is NOT responsible for creating directories or engines.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from interpstudio.core.errors import ConfigurationError

ENV_PREFIX = "INTERPSTUDIO_"


class SettingsError(ConfigurationError):
    """One or more settings are invalid; ``message`` names each variable and the problem."""

    code = "invalid_settings"


MIN_API_KEY_LENGTH = 16
HF_ENDPOINT_VARS = (f"{ENV_PREFIX}HF_ENDPOINT", "HF_ENDPOINT")  # in the order they count


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    data_dir: Path = Field(default=Path("data"), description="Root of every file the app writes.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file inside the data dir.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    api_key: SecretStr | None = Field(
        default=None, description="Required on every request when set; needed off loopback."
    )
    hf_endpoint: str = Field(
        default="https://huggingface.co",
        # huggingface_hub's own HF_ENDPOINT (a mirror such as https://hf-mirror.com set for every
        # tool) counts too; INTERPSTUDIO_HF_ENDPOINT wins where both are set
        validation_alias=AliasChoices(*HF_ENDPOINT_VARS, "hf_endpoint"),
        description="Hugging Face Hub (or mirror) base URL; passed to huggingface_hub. "
                    "Read from INTERPSTUDIO_HF_ENDPOINT, else HF_ENDPOINT.",
    )
    workers: int = Field(default=1, ge=0, le=64, description="Embedded job worker processes.")
    memory_budget_bytes: int | None = Field(
        default=None, ge=0, description="Model memory budget; default: available memory - margin."
    )
    broker_url: str | None = Field(default=None, description="Redis URL for scale-out events.")
    cors_origins: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names besides loopback that requests may name (no API key set).",
    )
    import_roots: list[Path] = Field(
        default_factory=list, description="Folders local imports may read from (besides data dir)."
    )
    max_upload_bytes: int = Field(default=10 * 1024**3, ge=1)
    heartbeat_interval_s: float = Field(default=1.0, gt=0, le=60)
    heartbeat_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    preflight_on: Literal["auto", "api", "worker"] = Field(
        default="auto",
        description="Where an extraction's preflight loads the model and times a batch: this API "
                    "process, a job worker, or auto: a worker when the requested device is not "
                    "in this process (a GPU-less API in front of GPU workers).",
    )
    preflight_wait_s: float = Field(
        default=120.0, gt=0, le=3600,
        description="How long a preflight queued for the workers waits to be taken before the "
                    "request gives up (workers busy or none running).",
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("hf_endpoint")
    @classmethod
    def _http_endpoint(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("broker_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        """Its form only (``redis://host:port/db``, ``rediss://``, ``unix:///path?db=``): a URL
        without scheme or with a database path that is not a number failed deep in the app's
        start with a long traceback; whether that Redis answers is checked when the event bus
        starts (``core.events.check_broker``)."""
        if value is not None:
            check_redis_url(value)
        return value

    @field_validator("api_key")
    @classmethod
    def _real_key(cls, value: SecretStr | None) -> SecretStr | None:
        """An empty or short key (``API_KEY=$KEY`` with ``KEY`` unset) passed the off-loopback
        check and then matched an empty header: refused instead."""
        if value is not None and len(value.get_secret_value().strip()) < MIN_API_KEY_LENGTH:
            raise ValueError(
                f"must be at least {MIN_API_KEY_LENGTH} characters (got "
                f"{len(value.get_secret_value().strip())}); make one with: python -c "
                "'import secrets; print(secrets.token_urlsafe(24))'")
        return value

    @model_validator(mode="after")
    def _key_required_off_loopback(self) -> Settings:
        if not is_loopback(self.host) and self.api_key is None:
            raise ValueError(
                f"binding to {self.host} (not loopback) requires {ENV_PREFIX}API_KEY to be set"
            )
        if self.heartbeat_timeout_s <= 2 * self.heartbeat_interval_s:
            raise ValueError("heartbeat_timeout_s must exceed twice heartbeat_interval_s")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'interpstudio.db'}"


REDIS_SCHEMES = ("redis", "rediss", "unix")


def check_redis_url(url: str) -> None:
    """Raise ``ValueError`` saying what is wrong with a Redis URL's form."""
    form = "must be a Redis URL such as redis://host:6379/0 (rediss:// for TLS, unix:///path)"
    parts = urlsplit(url.strip())
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError(form)
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError(form + "; unix:// needs the socket's path")
        return
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in 0..65535
    except ValueError:
        raise ValueError(form + "; the port is not a number in 1..65535") from None
    if not parts.hostname:
        raise ValueError(form + "; the host is missing")
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise ValueError(form + f"; the database index {database!r} is not a number")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _env_set(name: str) -> bool:
    return any(key.upper() == name for key in os.environ)


LIST_EXAMPLES = {"import_roots": '["/data/models"]', "cors_origins": '["http://localhost:5173"]',
                 "allowed_hosts": '["studio.lan"]'}


def get_settings(**overrides: object) -> Settings:
    """Read settings from the environment (plus explicit overrides) or raise ``SettingsError``."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except PydanticSettingsError as exc:  # a list variable that is not JSON, before validation
        match = re.search(r'field "(\w+)"', str(exc))
        field = match.group(1) if match else ""
        example = LIST_EXAMPLES.get(field, '["..."]')
        name = f"{ENV_PREFIX}{field.upper()}" if field else "a list setting"
        problem = f"{name}: must be a JSON list, e.g. '{example}'"
        raise SettingsError("invalid settings: " + problem, details={"problems": [problem]},
                            ) from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]).upper()
            name = (field if field.startswith(ENV_PREFIX) or field == "HF_ENDPOINT"
                    else f"{ENV_PREFIX}{field}" if field else "settings")
            if name == HF_ENDPOINT_VARS[0] and not _env_set(name) and _env_set(HF_ENDPOINT_VARS[1]):
                name = HF_ENDPOINT_VARS[1]  # the value came from huggingface_hub's variable
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError(
            "invalid settings: " + "; ".join(problems), details={"problems": problems}
        ) from None
