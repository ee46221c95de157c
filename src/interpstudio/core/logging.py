"""Logging set-up with secret redaction, and the log of a run of failures.

``configure_logging`` installs one handler whose filter masks anything that looks like an access
token (``hf_...``, ``Bearer ...``, ``api_key=...``) so that tokens never reach a log line even
when a library logs a URL or a header; ``uvicorn_log_config`` puts the same filter on uvicorn's
own handlers (its loggers do not propagate to the root, and its WebSocket line carries the
``?api_key=`` query). ``FailureStreak`` logs a run of failures (a database
outage met every tick) as two lines: its first failure and its end. This module is NOT
responsible for deciding what to log.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

_SECRET_PATTERNS = [
    re.compile(r"hf_[A-Za-z0-9]{6,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+"),
    re.compile(r"(?i)(api[_-]?key[=:]\s*)[^\s&'\"]+"),
    re.compile(r"(?i)(token[=:]\s*)[^\s&'\"]+"),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message and in each of its string arguments, keeping the
    arguments a tuple: uvicorn's access formatter unpacks them, so they cannot be folded into
    the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif record.args:  # a mapping or one odd argument: fold it into the message
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        root.setLevel(level)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    if level != "DEBUG":  # seven "setup plugin alembic.autogenerate..." lines on every start
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration with ``RedactingFilter`` on every handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": RedactingFilter}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "redact"]
    return config


class FailureStreak:
    """Logs the first failure of a run of failures and, once something works again, the end of
    the run with its length: an outage met four times a second is two lines, not a traceback per
    attempt. ``failures`` is the length of the current run (0 when none)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self.failures = 0

    def failed(self, message: str, *args: object, exc_info: bool = False,
               level: int = logging.WARNING) -> None:
        """One more failure; ``message % args`` is logged for the first only (``exc_info``: with
        the exception being handled; ``level``: ERROR where the failure may be a bug)."""
        self.failures += 1
        if self.failures == 1:
            self._logger.log(level, message, *args, exc_info=exc_info)

    def ended(self, message: str, *args: object) -> None:
        """Something worked: after a run of failures, log ``message % (*args, failures)``."""
        if self.failures:
            self._logger.info(message, *args, self.failures)
            self.failures = 0
