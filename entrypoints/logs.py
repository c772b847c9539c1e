"""Logging for every command of the service: one handler on the root logger, so that our own loggers,
uvicorn's, alembic's and SQLAlchemy's all come out in the same format.

- ``json``: one JSON object per line (``timestamp``, ``level``, ``logger``, ``message``, ``request_id`` inside a
  request, any ``extra`` fields, and ``exception`` as one string), for log shippers;
- ``console``: one readable line per record (a traceback follows on its own lines), for people;
- ``auto`` (the default): console on a terminal, JSON otherwise.

The request id comes from ``current_request_id``, a context variable the HTTP middleware sets for the duration
of each request; a filter on the handler copies it onto every record emitted meanwhile.

The commands other than ``serve`` write for people: there, the libraries' records below WARNING (Alembic's
"Context impl PostgresqlImpl.", ...) are left out unless asked for (``--verbose``, or ``LOG_LEVEL=debug``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, Final, Literal

from entrypoints.settings import Settings

# The top-level packages whose loggers are the service's own; every other logger belongs to a library.
OWN_PACKAGES: Final = frozenset({"domain", "application", "adapters", "entrypoints", "migrations", "users_service"})

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)

# The attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",  # Python 3.12+
    "color_message",  # uvicorn's ANSI-coloured copy of the message
    "request_id",  # placed by the formatters themselves
}


def _timestamp(record: logging.LogRecord) -> str:
    """RFC 3339, UTC, millisecond precision: ``2026-11-25T07:00:44.937Z``."""
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(record.created))}.{int(record.msecs):03d}Z"


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES}


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being handled, if any (records that already carry
    one, like the access log's, keep theirs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            request_id = current_request_id.get()
            if request_id is not None:
                record.request_id = request_id
        return True


class LibraryDetailFilter(logging.Filter):
    """Drops the libraries' records below WARNING; the service's own records, and loggers named in ``shown``,
    pass at any level."""

    def __init__(self, shown: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.shown = shown

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        name = record.name
        return name.partition(".")[0] in OWN_PACKAGES or any(
            name == shown or name.startswith(f"{shown}.") for shown in self.shown
        )


class CutOffAsWarning(logging.Filter):
    """uvicorn logs the requests it cancels when the shutdown grace period ends at ERROR; each such request is
    answered 503 and logged as a warning by the service, so this line is a warning too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and str(record.msg).startswith("Cancel %s running task(s)"):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped by JSON itself)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in _extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    """``2026-11-25T07:00:44.937Z INFO  users_service.access [4bf9…] GET /users 200 1.21ms method=GET ...``"""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        parts = [_timestamp(record), f"{record.levelname:<7}", record.name]
        if request_id is not None:
            parts.append(f"[{request_id}]")
        parts.append(record.getMessage())
        parts.extend(f"{key}={value}" for key, value in _extra_fields(record).items())
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class _CurrentStream:
    """``sys.stderr`` or ``sys.stdout`` as it is when a record is written, not as it was when logging was set up
    (test runners and CLI runners swap it for a while)."""

    def __init__(self, name: Literal["stderr", "stdout"] = "stderr") -> None:
        self.name = name

    def write(self, text: str) -> int:
        written: int = getattr(sys, self.name).write(text)
        return written

    def flush(self) -> None:
        getattr(sys, self.name).flush()

    def isatty(self) -> bool:
        isatty = getattr(getattr(sys, self.name), "isatty", None)
        return isatty is not None and bool(isatty())


class ServiceLogHandler(logging.StreamHandler[Any]):
    """The service's one handler: to stderr (or ``stream``), in ``log_format``, with request ids."""

    def __init__(self, log_format: Literal["json", "console"], stream: Any = None) -> None:
        super().__init__(stream if stream is not None else _CurrentStream())
        self.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
        self.addFilter(RequestIdFilter())


def resolve_format(
    log_format: Literal["auto", "json", "console"], stream: Literal["stderr", "stdout"] = "stderr"
) -> Literal["json", "console"]:
    if log_format != "auto":
        return log_format
    return "console" if _CurrentStream(stream).isatty() else "json"


def configure_logging(
    settings: Settings, stream: Literal["stderr", "stdout"] = "stderr", *, library_detail: bool = True
) -> None:
    """Route every logger through one ``ServiceLogHandler`` on the root logger, at ``settings.log_level``, to
    ``stream`` (the server logs to stdout; the other commands keep stdout for their output).

    Without ``library_detail`` the libraries' records below WARNING are dropped, except at ``LOG_LEVEL=debug``
    and, with ``DB_ECHO``, SQLAlchemy's statements.

    Safe to call again: the handler a previous call installed is replaced, other handlers are left alone.
    """
    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if isinstance(handler, ServiceLogHandler)]:
        root.removeHandler(handler)
    handler = ServiceLogHandler(resolve_format(settings.log_format, stream), _CurrentStream(stream))
    if not library_detail and settings.log_level != "debug":
        handler.addFilter(LibraryDetailFilter(frozenset({"sqlalchemy.engine"}) if settings.db_echo else frozenset()))
    root.addHandler(handler)
    server_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(known, CutOffAsWarning) for known in server_log.filters):
        server_log.addFilter(CutOffAsWarning())
    root.setLevel(settings.log_level.upper())
    # DB_ECHO: SQLAlchemy's statements through our handler (its own echo would print to stdout, unformatted).
    # The engine hides bound parameters, so no e-mail address or name reaches the log this way.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO if settings.db_echo else logging.WARNING)
