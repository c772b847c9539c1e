"""The databases the suites run on: one throw-away database per test run, made and dropped by the suite.

PostgreSQL comes from ``TEST_DATABASE_URL`` when it is set (CI points it at the local server), else from a
``postgres:16-alpine`` container when a Docker daemon answers, else the PostgreSQL tests are skipped with the
reason, unless ``REQUIRE_POSTGRES=1``, which turns that skip into a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from entrypoints.settings import normalize_database_url

TEST_DATABASE_PREFIX = "users_test_"


class PostgresUnavailable(Exception):
    pass


def postgres_unavailable(what: str) -> NoReturn:
    """Skip the test that needs ``what`` (e.g. "PostgreSQL is unavailable: ..."), or, with
    REQUIRE_POSTGRES=1, fail it: a run that must cover PostgreSQL never passes by skipping."""
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"REQUIRE_POSTGRES=1 but {what}", pytrace=False)
    pytest.skip(what)


@contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server the suite may create databases on."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield normalize_database_url(given)
        return
    try:
        from docker.errors import DockerException
        from testcontainers.community.postgres import PostgresContainer
    except ImportError as error:  # pragma: no cover - testcontainers is in the dev lock
        raise PostgresUnavailable(f"testcontainers is not installed ({error})") from None
    try:
        container = PostgresContainer("postgres:16-alpine", driver="asyncpg")
        container.start()
    except DockerException as error:
        raise PostgresUnavailable(
            f"no TEST_DATABASE_URL is set and no Docker daemon answers ({type(error).__name__})"
        ) from None
    try:  # pragma: no cover - CI has no Docker daemon
        yield container.get_connection_url()
    finally:  # pragma: no cover
        container.stop()


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
