"""The databases the suites run on: one throw-away database per test run, made and dropped by the suite.

PostgreSQL comes from ``TEST_DATABASE_URL`` when it is set (a server of your own), else from one container of
``TEST_POSTGRES_IMAGE`` (default ``postgres:16-alpine``) started by testcontainers for the whole run (CI), else
the PostgreSQL tests are skipped with the reason, unless ``REQUIRE_POSTGRES=1``, which turns that skip into a
failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import TYPE_CHECKING, NamedTuple, NoReturn

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from entrypoints.settings import normalize_database_url

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

TEST_DATABASE_PREFIX = "users_test_"
DEFAULT_POSTGRES_IMAGE = "postgres:16-alpine"


class PostgresUnavailable(Exception):
    pass


class PostgresServer(NamedTuple):
    url: str
    origin: str
    """Where the server comes from, for the run's log."""


def postgres_unavailable(what: str) -> NoReturn:
    """Skip the test that needs ``what`` (e.g. "PostgreSQL is unavailable: ..."), or, with
    REQUIRE_POSTGRES=1, fail it: a run that must cover PostgreSQL never passes by skipping."""
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"REQUIRE_POSTGRES=1 but {what}", pytrace=False)
    pytest.skip(what)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server the suite may create databases on."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        url = normalize_database_url(given)
        yield PostgresServer(url, f"the server in TEST_DATABASE_URL ({_where(url)})")
        return
    image = os.environ.get("TEST_POSTGRES_IMAGE", DEFAULT_POSTGRES_IMAGE)
    from docker.errors import APIError, DockerException
    from testcontainers.community.postgres import PostgresContainer

    try:
        container = PostgresContainer(
            image, username="postgres", password="postgres", dbname="postgres", driver="asyncpg"
        )
    except DockerException as error:
        raise PostgresUnavailable(
            f"no TEST_DATABASE_URL is set and no Docker daemon answers ({type(error).__name__}: {error})"
        ) from None
    try:
        container.start()
    except APIError as error:  # the daemon answered: the image could not be pulled, or the container not started
        _remove(container)
        raise PostgresUnavailable(f"the container of {image} could not be started: {error.explanation}") from None
    except DockerException as error:
        raise PostgresUnavailable(
            f"no TEST_DATABASE_URL is set and no Docker daemon answers ({type(error).__name__}: {error})"
        ) from None
    except Exception as error:  # the wait for the server (testcontainers raises its own kinds)
        _remove(container)
        raise PostgresUnavailable(f"the container of {image} did not become ready: {error}") from None
    try:
        url = container.get_connection_url()
        yield PostgresServer(url, f"a container of {image} started by testcontainers ({_where(url)})")
    finally:
        container.stop()


def _remove(container: DockerContainer) -> None:
    with suppress(Exception):  # what is left of a container that never started
        container.stop()


def _where(url: str) -> str:
    parsed = make_url(url)
    return f"{parsed.host}:{parsed.port or 5432}"


async def _run_on_server(server_url: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def create_database(server_url: str) -> str:
    """Create a fresh, uniquely named database on the server and return its URL."""
    name = TEST_DATABASE_PREFIX + secrets.token_hex(6)
    await _run_on_server(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    # Never drop what this suite did not make: a wrong TEST_DATABASE_URL must not cost anyone their data.
    if not name or not name.startswith(TEST_DATABASE_PREFIX):
        raise RuntimeError(f"refusing to drop {name!r}: not a database this test run created")
    await _run_on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def throwaway_database(server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database on the server for the block, dropped after it."""
    url = await create_database(server_url)
    try:
        yield url
    finally:
        await drop_database(server_url, url)
