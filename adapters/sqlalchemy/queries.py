"""The SQL read side: one statement per call on a pooled connection in autocommit mode.

A unit of work would wrap each read in BEGIN ... ROLLBACK and an ORM session: two extra round trips and a
good share of the CPU of a GET (measured with make bench and py-spy). A lone SELECT needs neither: in
autocommit it still sees exactly the committed state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Row, Select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqlalchemy.errors import storage_errors
from adapters.sqlalchemy.repository import SELECT_ONE, select_page, to_user
from adapters.sqlalchemy.stale_connections import once_more_if_found_dead
from application.queries import UserQueries
from domain.repository import UserQuery
from domain.users import User


class SqlUserQueries(UserQueries):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def get(self, user_id: UUID) -> User | None:
        rows = await self._fetch(SELECT_ONE, {"user_id": user_id})
        return to_user(rows[0]) if rows else None

    async def list(self, query: UserQuery) -> list[User]:
        return [to_user(row) for row in await self._fetch(select_page(query))]

    async def _fetch(self, statement: Select[Any], parameters: dict[str, Any] | None = None) -> Sequence[Row[Any]]:
        async def run() -> Sequence[Row[Any]]:
            async with self._engine.connect() as connection:
                return cast(Sequence[Row[Any]], (await connection.execute(statement, parameters)).all())

        with storage_errors():
            return await once_more_if_found_dead(run)
