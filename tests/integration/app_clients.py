"""The real app, configured by the test's own settings, behind an in-process httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from dependency_injector import providers
from dependency_injector.ext.starlette import Lifespan

from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.auth import bearer


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh app with its own connection pool, closed on the way out, holding every scope
    (``settings`` should come from ``tests.auth.app_settings``, which trusts its token)."""
    container = Container()
    container.settings.override(providers.Object(settings))
    # raise_app_exceptions=False: a crash must reach the test as the 500 a client would get.
    transport = httpx.ASGITransport(app=create_app(container), raise_app_exceptions=False)
    # The app's own lifespan, which ASGITransport does not run.
    async with (
        Lifespan(container.storage()),
        httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=bearer()) as client,
    ):
        yield client
