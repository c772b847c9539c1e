from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI

from application.unit_of_work import UnitOfWork
from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.logs import ServiceLogHandler
from tests.auth import app_settings, bearer
from tests.backends import Backend


@pytest.fixture
async def app(backend: Backend) -> FastAPI:
    return create_app(backend.container())


@pytest.fixture
def auth_headers() -> dict[str, str]:
    """What a caller holding every scope sends with each request: tests that call the app by other means than
    ``client`` (schemathesis, raw ASGI) add these."""
    return bearer()


@pytest.fixture
async def client(app: FastAPI, auth_headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: a crash must reach the test as the 500 a client would get.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=auth_headers) as client:
        yield client


class CapturedLogs(ServiceLogHandler):
    """The service's JSON log handler, writing to memory and keeping the records it formats."""

    # The test's own HTTP client logs the URLs it requests (query strings included): not the service's logs.
    _CLIENT_LOGGERS = ("httpx", "httpcore")

    def __init__(self) -> None:
        self.output = io.StringIO()
        super().__init__("json", stream=self.output)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".", 1)[0] in self._CLIENT_LOGGERS:
            return
        self.records.append(record)
        super().emit(record)

    def lines(self) -> list[dict[str, Any]]:
        """Every line written, each parsed as the one JSON object it must be."""
        parsed = []
        for line in self.output.getvalue().splitlines():
            entry = json.loads(line)
            assert isinstance(entry, dict), line
            parsed.append(entry)
        return parsed

    def access(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["logger"] == "users_service.access"]


@pytest.fixture
def logs() -> Iterator[CapturedLogs]:
    """Everything logged at INFO and above while the test runs, as the service would write it (JSON)."""
    root = logging.getLogger()
    level = root.level
    handler = CapturedLogs()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


class _CrashingUnitOfWork(UnitOfWork):
    async def _begin(self) -> None:
        raise RuntimeError("boom: secret=hunter2")

    async def commit(self) -> None:
        raise AssertionError("unreachable")

    async def rollback(self) -> None:
        raise AssertionError("unreachable")


@pytest.fixture
async def crashing_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose every unit of work crashes with an unexpected error (a bug, a 500)."""
    container = Container()
    container.settings.override(providers.Object(app_settings(database_url="memory://")))
    container.storage().unit_of_work.override(providers.Factory(_CrashingUnitOfWork))
    transport = httpx.ASGITransport(app=create_app(container), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=bearer()) as client:
        yield client
