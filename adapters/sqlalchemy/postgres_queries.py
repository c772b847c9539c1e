"""The PostgreSQL read side, straight on the driver (see postgres_driver.py for why).

A lone read has nothing to undo: a connection that the statement finds dead (the server or the network ended
it while it idled, and asyncpg had not read the EOF yet; one it had read is replaced by the pool before it is
handed out) is dropped and the read run again on another. Every
pooled connection may be dead (after a database restart): the attempts are bounded by the pool's size, then
``StorageUnavailable`` (503).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]

from adapters.sqlalchemy.errors import storage_errors
from adapters.sqlalchemy.postgres_driver import SELECT_ONE, select_page, to_user
from adapters.sqlalchemy.postgres_pool import DriverPool
from application.queries import UserQueries
from domain.repository import UserQuery
from domain.users import User

T = TypeVar("T")


class PostgresUserQueries(UserQueries):
    def __init__(self, pool: DriverPool) -> None:
        self._pool = pool

    async def get(self, user_id: UUID) -> User | None:
        row = await self._fetch(lambda connection: connection.fetchrow(SELECT_ONE, user_id))
        return None if row is None else to_user(row)

    async def list(self, query: UserQuery) -> list[User]:
        sql, arguments = select_page(query)
        rows = await self._fetch(lambda connection: connection.fetch(sql, *arguments))
        return [to_user(row) for row in rows]

    async def _fetch(self, run: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        with storage_errors():
            return await self._pool.run_alone(run)
