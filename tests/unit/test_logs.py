"""The log formats (JSON lines, console), the request id on records, and the one handler every logger uses."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from entrypoints.logs import (
    ConsoleFormatter,
    JsonFormatter,
    RequestIdFilter,
    ServiceLogHandler,
    configure_logging,
    current_request_id,
    resolve_format,
)
from entrypoints.settings import Settings


def _record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    return logging.getLogger("users_service.test").makeRecord(
        "users_service.test", logging.WARNING, __file__, 1, message, args or ("world",), None, extra=extra
    )


def _failure() -> logging.LogRecord:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        return logging.getLogger("x").makeRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())


def test_a_json_line_has_the_standard_fields_and_the_extra_ones() -> None:
    entry = json.loads(JsonFormatter().format(_record(route="/users", status=200)))

    assert entry.pop("timestamp").endswith("Z")
    assert entry == {
        "level": "warning",
        "logger": "users_service.test",
        "message": "hello world",
        "route": "/users",
        "status": 200,
    }


def test_an_exception_is_one_field_of_one_line() -> None:
    line = JsonFormatter().format(_failure())

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed"
    assert entry["exception"].startswith("Traceback (most recent call last)")
    assert "ValueError: bad\nvalue" in entry["exception"]


def test_a_value_json_cannot_encode_is_written_as_text() -> None:
    entry = json.loads(JsonFormatter().format(_record(path=io)))
    assert "module 'io'" in entry["path"]


def test_the_request_id_is_stamped_inside_a_request_only() -> None:
    outside = _record()
    RequestIdFilter().filter(outside)
    assert "request_id" not in json.loads(JsonFormatter().format(outside))

    token = current_request_id.set("req-1")
    try:
        inside = _record()
        RequestIdFilter().filter(inside)
        own = _record(request_id="req-own")
        RequestIdFilter().filter(own)
    finally:
        current_request_id.reset(token)
    assert json.loads(JsonFormatter().format(inside))["request_id"] == "req-1"
    assert json.loads(JsonFormatter().format(own))["request_id"] == "req-own"


def test_the_console_format_is_one_readable_line_then_the_traceback() -> None:
    line = ConsoleFormatter().format(_record(request_id="req-1", status=200))
    assert line.endswith(" WARNING users_service.test [req-1] hello world status=200")
    assert line[:24].endswith("Z")

    failure = ConsoleFormatter().format(_failure()).splitlines()
    assert failure[0].endswith("ERROR   x failed")
    assert failure[1] == "Traceback (most recent call last):"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_means_console_on_a_terminal_and_json_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_format("json") == "json"
    assert resolve_format("console") == "console"
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert resolve_format("auto") == "console"
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert resolve_format("auto") == "json"
    monkeypatch.setattr(sys, "stdout", _Terminal())
    assert resolve_format("auto", "stdout") == "console"


@pytest.fixture
def root_logging() -> Iterator[logging.Logger]:
    """Leave the logging configuration as it was found."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    sql_level = logging.getLogger("sqlalchemy.engine").level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("sqlalchemy.engine").setLevel(sql_level)


def test_one_handler_carries_our_uvicorns_and_alembics_records(
    root_logging: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(Settings(database_url="memory://", log_format="json", log_level="info"))
    configure_logging(Settings(database_url="memory://", log_format="json", log_level="info"))  # idempotent
    assert len([handler for handler in root_logging.handlers if isinstance(handler, ServiceLogHandler)]) == 1
    assert root_logging.level == logging.INFO

    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42, extra={"color_message": "\x1b[36m"})
    logging.getLogger("alembic.runtime.migration").info("Running upgrade  -> 0001")
    logging.getLogger("users_service.access").debug("below the level")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("uvicorn.error", "Started server process [42]"),
        ("alembic.runtime.migration", "Running upgrade  -> 0001"),
    ]
    assert "color_message" not in lines[0]


def test_db_echo_sends_sql_statements_through_the_same_handler(root_logging: logging.Logger) -> None:
    configure_logging(Settings(database_url="memory://", db_echo=True))
    assert logging.getLogger("sqlalchemy.engine").getEffectiveLevel() == logging.INFO
    configure_logging(Settings(database_url="memory://", db_echo=False, log_level="debug"))
    assert logging.getLogger("sqlalchemy.engine").getEffectiveLevel() == logging.WARNING


def test_for_people_the_libraries_lines_below_warning_are_left_out(
    root_logging: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(Settings(database_url="memory://", log_format="json"), library_detail=False)

    logging.getLogger("alembic.runtime.migration").info("Context impl PostgresqlImpl.")
    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT 1")
    logging.getLogger("alembic.runtime.migration").warning("a library's warning")
    logging.getLogger("entrypoints.cli").info("our own line")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == ["a library's warning", "our own line"]


@pytest.mark.parametrize(
    ("settings", "library_detail"),
    [
        (Settings(database_url="memory://", log_format="json"), True),
        (Settings(database_url="memory://", log_format="json", log_level="debug"), False),
    ],
    ids=["verbose", "log-level-debug"],
)
def test_verbose_or_log_level_debug_show_the_libraries_lines(
    root_logging: logging.Logger, capsys: pytest.CaptureFixture[str], settings: Settings, library_detail: bool
) -> None:
    configure_logging(settings, library_detail=library_detail)

    logging.getLogger("alembic.runtime.migration").info("Context impl PostgresqlImpl.")

    assert json.loads(capsys.readouterr().err)["message"] == "Context impl PostgresqlImpl."


def test_db_echo_keeps_the_sql_statements_where_library_lines_are_left_out(
    root_logging: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(Settings(database_url="memory://", log_format="json", db_echo=True), library_detail=False)

    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT 1")
    logging.getLogger("sqlalchemy.pool.impl.AsyncAdaptedQueuePool").info("pool line")

    assert [json.loads(line)["message"] for line in capsys.readouterr().err.splitlines()] == ["SELECT 1"]
