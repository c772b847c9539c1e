from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from entrypoints.http.app import create_app
from tests.backends import Backend


@pytest.fixture
async def app(backend: Backend) -> AsyncIterator[FastAPI]:
    container = backend.container()
    yield create_app(container)
    container.unwire()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: a crash must reach the test as the 500 a client would get.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
