"""Fixtures shared by every suite: the backends, each on its own fresh database for this run."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.sqlalchemy import Database, migrations
from tests.backends import Backend
from tests.databases import PostgresUnavailable, create_database, drop_database, postgres_server, postgres_unavailable
from tests.run_log import tell

BACKENDS = [
    pytest.param("memory", marks=pytest.mark.memory),
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgres", marks=pytest.mark.postgres),
]

# Property-based tests run a modest number of examples each, so that make test stays quick (make fuzz is the
# long run), and without a deadline: on a shared machine a slow example is no failure. HYPOTHESIS_PROFILE
# picks another profile, e.g. Hypothesis' own "default" (100 examples).
settings.register_profile("suite", max_examples=40, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


@pytest.fixture(scope="session")
def postgres_server_url(pytestconfig: pytest.Config) -> Iterator[str]:
    try:
        with postgres_server() as server:
            tell(pytestconfig, f"\nPostgreSQL for this run: {server.origin}")
            yield server.url
    except PostgresUnavailable as error:
        postgres_unavailable(f"PostgreSQL is unavailable: {error}")


@pytest.fixture(scope="session")
async def postgres_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A database of its own for this test run, migrated to head, dropped at the end."""
    url = await create_database(postgres_server_url)
    try:
        await asyncio.to_thread(migrations.upgrade, url)
        yield url
    finally:
        await drop_database(postgres_server_url, url)


@pytest.fixture
async def blocker_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """A connection pool apart from the app's, to hold locks that keep the app's statements waiting."""
    engine = create_async_engine(postgres_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "users.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(migrations.upgrade, url)
    return url


@pytest.fixture(scope="session")
async def memory_backend() -> Backend:
    return Backend("memory")


@pytest.fixture(scope="session")
async def sqlite_backend(sqlite_url: str) -> AsyncIterator[Backend]:
    database = Database.open(sqlite_url)
    yield Backend("sqlite", url=sqlite_url, database=database)
    await database.dispose()


@pytest.fixture(scope="session")
async def postgres_backend(postgres_url: str) -> AsyncIterator[Backend]:
    database = Database.open(postgres_url, pool_size=25, max_overflow=5)
    yield Backend("postgres", url=postgres_url, database=database)
    await database.dispose()


@pytest.fixture(params=BACKENDS)
def any_backend(request: pytest.FixtureRequest) -> Backend:
    # Sync on purpose: an async fixture cannot ask for other async fixtures by name.
    chosen: Backend = request.getfixturevalue(f"{request.param}_backend")
    return chosen


@pytest.fixture
async def backend(any_backend: Backend) -> Backend:
    """Each backend in turn, emptied before the test."""
    await any_backend.reset()
    return any_backend
