"""Requests that take too long: a request still running when shutdown's grace period ends is a 503 of its own
type, logged as one warning (the body deadline is the server's: tests/smoke/test_request_heads.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI
from starlette.types import Message

from entrypoints.container import Container
from entrypoints.http.app import create_app
from tests.auth import app_settings, bearer
from tests.http.asgi_calls import call_app
from tests.http.conftest import CapturedLogs
from tests.http.problems import assert_problem

pytestmark = pytest.mark.memory

_DEADLINE = 0.3
_USER = b'{"username": "slowcoach", "email": "slowcoach@example.com"}'


def _app() -> FastAPI:
    container = Container()
    container.settings.override(
        providers.Object(app_settings(database_url="memory://", body_read_timeout_seconds=_DEADLINE))
    )
    return create_app(container)


async def _post(app: FastAPI, receive: Callable[[], Awaitable[Message]], length: int) -> httpx.Response:
    """POST /users as a server would hand it to the app, the body coming from ``receive``."""
    headers = {**bearer(), "content-type": "application/json", "content-length": str(length)}
    return await call_app(app, "POST", "/users", headers, receive)


def test_the_body_deadline_is_a_positive_number_of_seconds() -> None:
    assert app_settings().body_read_timeout_seconds == 30
    for wrong in (0, -1, float("inf")):
        with pytest.raises(ValueError, match="body_read_timeout_seconds"):
            app_settings(body_read_timeout_seconds=wrong)


async def test_a_request_cut_off_by_shutdown_is_a_503_shutting_down_logged_as_one_warning(
    logs: CapturedLogs,
) -> None:
    app = _app()
    reading = asyncio.Event()

    async def stalled_body() -> Message:
        reading.set()
        await asyncio.Event().wait()  # still waiting when the grace period ends
        raise AssertionError("unreachable")

    request = asyncio.create_task(_post(app, stalled_body, len(_USER)))
    await reading.wait()
    request.cancel()  # what uvicorn does to the requests still running when the grace period ends

    response = await request  # answered, and not cancelled: uvicorn has nothing left to log

    body = assert_problem(response, 503)
    assert body["type"] == "urn:users-service:problem:shutting-down"
    assert response.headers["retry-after"] == "1"
    [warning] = [line for line in logs.lines() if line["level"] != "info"]
    assert warning["level"] == "warning"
    assert warning["message"] == "POST /users cut off by shutdown after the grace period"
    assert "exc_info" not in warning
    assert "Traceback" not in json.dumps(logs.lines())
    assert not any(record.exc_info for record in logs.records if record.levelno >= logging.WARNING)
