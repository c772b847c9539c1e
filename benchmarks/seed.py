"""The benchmark's databases: made fresh on a PostgreSQL server, migrated the way production does it
(``users-service migrate``), seeded fast with one binary COPY, and dropped at the end.

Seeded ids are UUIDv7-shaped and strictly increasing, one millisecond apart and all in the past, so the keyset
order (by id) is the creation order, and users that the benchmark registers later sort after every seeded one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from entrypoints.tokens import READ_SCOPE, WRITE_SCOPE, mint_token

BENCH_DATABASE_PREFIX = "users_bench_"
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
USERS_SERVICE = str(Path(sys.executable).with_name("users-service"))
ROOT = Path(__file__).resolve().parents[1]

_COLUMNS = ("id", "username", "username_key", "email", "full_name", "is_active", "created_at", "updated_at", "version")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ROWS_PER_YIELD = 5_000

# A key for this run only, and the token every request of the load carries (all scopes, valid for a day).
BENCH_SECRET = secrets.token_urlsafe(48)
BENCH_AUTHORIZATION = "Bearer " + mint_token(
    BENCH_SECRET,
    subject="benchmark",
    scopes=(READ_SCOPE, WRITE_SCOPE),
    audience="users-service",
    issuer="users-service",
    lifetime_seconds=86_400,
)


def server_url_from_environment() -> str:
    """The server the benchmark makes its databases on: ``BENCH_DATABASE_URL`` (any database on that server
    will do; it is only used to create and drop the benchmark's own), else the local PostgreSQL."""
    return os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER_URL


def asyncpg_dsn(url: str) -> str:
    """``url`` as asyncpg wants it: ``postgresql://`` without a SQLAlchemy driver name."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy_url(url: str) -> str:
    """``url`` with the asyncpg driver named, as SQLAlchemy's async engine wants it."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


class Databases(Protocol):
    """Where the benchmark gets its throw-away databases from (each empty; the benchmark migrates it)."""

    async def create(self) -> str: ...

    async def drop(self, url: str) -> None: ...


class ServerDatabases:
    """Fresh ``users_bench_*`` databases on one PostgreSQL server; drops only databases of that name."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url

    async def _execute(self, statement: str) -> None:
        connection = await asyncpg.connect(asyncpg_dsn(self.server_url), timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def create(self) -> str:
        name = BENCH_DATABASE_PREFIX + secrets.token_hex(6)
        await self._execute(f'CREATE DATABASE "{name}"')
        return make_url(asyncpg_dsn(self.server_url)).set(database=name).render_as_string(hide_password=False)

    async def drop(self, url: str) -> None:
        name = make_url(url).database
        if not name or not name.startswith(BENCH_DATABASE_PREFIX):
            raise RuntimeError(f"refusing to drop {name!r}: not a database the benchmark created")
        await self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def service_environment(database_url: str, **settings: str) -> dict[str, str]:
    """The environment to run ``users-service`` with: this process's, less every variable the service reads
    (so a stray ``DB_ECHO`` or ``LOG_LEVEL`` in the shell cannot skew the run), plus ``DATABASE_URL``."""
    read_by_service = ("DATABASE_URL", "HOST", "PORT", "LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_GRACE_SECONDS")
    prefixes = ("DB_", "AUTH_", "RATE_LIMIT_", "CORS_", "METRICS_")
    environment = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in read_by_service and not name.upper().startswith(prefixes)
    }
    # Tokens are checked as in production; the write rate limit (per client) is off, since the benchmark is
    # one client writing as fast as it can, which that limit exists to stop.
    bench = {"DATABASE_URL": database_url, "AUTH_JWT_SECRET": BENCH_SECRET, "RATE_LIMIT_WRITES_PER_SECOND": "0"}
    return environment | bench | {name.upper(): value for name, value in settings.items()}


async def migrate(database_url: str) -> None:
    """Create the schema exactly as a release step does: ``users-service migrate``."""
    process = await asyncio.to_thread(
        subprocess.run,
        [USERS_SERVICE, "migrate"],
        env=service_environment(database_url, log_level="warning"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if process.returncode != 0:
        raise RuntimeError(f"users-service migrate failed ({process.returncode}):\n{process.stdout}{process.stderr}")


@dataclass(frozen=True)
class Seeded:
    count: int
    seconds: float
    ids: list[UUID]
    """Every seeded id in keyset order (only when asked to keep them; else empty)."""


async def _generate(count: int, keep: list[UUID] | None) -> AsyncIterator[tuple[Any, ...]]:
    """``count`` users, oldest first, one millisecond apart, the newest a minute ago. Yields to the event loop
    now and then so that asyncpg sends what it has while the next rows are made (PostgreSQL inserts them on
    the other core meanwhile)."""
    rng = random.Random(count)  # noqa: S311 - test data, not secrets
    start_ms = time.time_ns() // 1_000_000 - count - 60_000
    getrandbits = rng.getrandbits
    version_bits = 0x7 << 76 | 0b10 << 62
    for index in range(count):
        ms = start_ms + index
        user_id = UUID(int=ms << 80 | version_bits | getrandbits(12) << 64 | getrandbits(62))
        if keep is not None:
            keep.append(user_id)
        at = _EPOCH + timedelta(milliseconds=ms)
        name = f"user{index:07d}"
        yield (user_id, name, name, name + "@example.com", f"Bench User {index}", index % 10 != 0, at, at, 1)
        if index % _ROWS_PER_YIELD == 0:
            await asyncio.sleep(0)


async def seed_users(database_url: str, count: int, *, keep_ids: bool = False) -> Seeded:
    """Fill the (empty, migrated) ``users`` table with ``count`` users in one COPY, then VACUUM ANALYZE it."""
    started = time.perf_counter()
    ids: list[UUID] | None = [] if keep_ids else None
    connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        await connection.copy_records_to_table("users", records=_generate(count, ids), columns=_COLUMNS)
        await connection.execute("VACUUM ANALYZE users")
    finally:
        await connection.close()
    return Seeded(count=count, seconds=time.perf_counter() - started, ids=ids or [])


async def id_at(database_url: str, position: int) -> UUID:
    """The id of the ``position``-th user (1-based) in keyset order."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        value = await connection.fetchval("SELECT id FROM users ORDER BY id OFFSET $1 LIMIT 1", position - 1)
    finally:
        await connection.close()
    if value is None:
        raise ValueError(f"there is no user number {position}")
    return UUID(str(value))


async def settle(database_url: str) -> None:
    """Between two apps: vacuum what the previous one updated, refresh statistics, and flush dirty pages, so
    that each app starts from the same state of the database rather than paying for its predecessor."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        await connection.execute("VACUUM ANALYZE users")
        with contextlib.suppress(asyncpg.PostgresError):  # not a superuser: the checkpointer gets there anyway
            await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


def write_ids(ids: Sequence[UUID], path: Path) -> Path:
    path.write_text("".join(f"{user_id}\n" for user_id in ids))
    return path
