"""The PostgreSQL read side, straight on the asyncpg connection borrowed from the engine's pool.

A GET is one indexed SELECT, yet through SQLAlchemy's execution layer (statement building, cache key, compile
cache, execution context, greenlet hop, result wrapping) it cost about a quarter of the service's CPU per
request (py-spy under ``make bench``). Here the SQL is fixed text that asyncpg prepares once per connection
and keeps in its statement cache, and the row goes straight to the entity.

The connection still comes from the engine's pool, so the pool's size, timeout, metrics and disposal stay
the one truth; what SQLAlchemy would do on a dead connection is done here: a connection already known to be
closed (the server ended it, or the network did: asyncpg reads the EOF while the connection idles) is
invalidated and another taken, with no round trip; one found dead by the statement itself is invalidated and
the read run again on another (a lone read has nothing to undo). Every pooled connection may be dead (after a
database restart): the attempts are bounded by the pool's size, then ``StorageUnavailable`` (503).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqlalchemy.errors import storage_errors
from application.errors import StorageUnavailable
from application.queries import UserQueries
from domain.repository import UserQuery
from domain.users import User, username_key

T = TypeVar("T")

_COLUMNS: Final = "id, username, email, full_name, is_active, created_at, updated_at, version"
_GET: Final = f"SELECT {_COLUMNS} FROM users WHERE id = $1"  # noqa: S608 - constant text, values are bound

# Errors after which the connection is gone. A backend ended by the server (pg_terminate_backend, a restart)
# can leave asyncpg's protocol in a state it reports as an InternalClientError before it notices the EOF.
_CONNECTION_LOST = (
    OSError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)


def _to_user(row: asyncpg.Record) -> User:
    return User(
        id=row[0],
        username=row[1],
        email=row[2],
        full_name=row[3],
        is_active=row[4],
        created_at=row[5],
        updated_at=row[6],
        version=row[7],
    )


def _page(query: UserQuery) -> tuple[str, list[Any]]:
    """The same keyset page as ``repository.select_page``, as SQL text and its arguments."""
    conditions: list[str] = []
    arguments: list[Any] = []

    def bind(condition: str, value: Any) -> None:
        arguments.append(value)
        conditions.append(condition.format(f"${len(arguments)}"))

    if query.after is not None:
        bind("id > {}", query.after)
    if query.is_active is not None:
        bind("is_active = {}", query.is_active)
    if query.username is not None:
        bind("username_key = {}", username_key(query.username))
    if query.email is not None:
        bind("email = {}", query.email)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    arguments.append(query.limit)
    return f"SELECT {_COLUMNS} FROM users{where} ORDER BY id LIMIT ${len(arguments)}", arguments  # noqa: S608


class PostgresUserQueries(UserQueries):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # Every pooled connection may be found closed once (a database restart ends them all) before a
        # fresh one is made.
        self._attempts = engine.pool.size() + 2  # type: ignore[attr-defined]

    async def get(self, user_id: UUID) -> User | None:
        row = await self._fetch(lambda connection: connection.fetchrow(_GET, user_id))
        return None if row is None else _to_user(row)

    async def list(self, query: UserQuery) -> list[User]:
        sql, arguments = _page(query)
        rows = await self._fetch(lambda connection: connection.fetch(sql, *arguments))
        return [_to_user(row) for row in rows]

    async def _fetch(self, run: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        for _ in range(self._attempts):
            with storage_errors():
                async with self._engine.connect() as pooled:
                    driver = await _driver_connection(pooled)
                    if driver.is_closed():
                        await pooled.invalidate()
                        continue
                    try:
                        return await run(driver)
                    except _CONNECTION_LOST as error:
                        # A lone read did nothing that could need undoing: drop the connection, read again.
                        await pooled.invalidate(error)
        raise StorageUnavailable("no open connection to the database")


async def _driver_connection(pooled: AsyncConnection) -> asyncpg.Connection:
    fairy = await pooled.get_raw_connection()
    return fairy.driver_connection
