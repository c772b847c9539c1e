"""The SQL read side: one statement per call, on a pooled connection in autocommit mode.

A lone SELECT needs no transaction: in autocommit it sees exactly the committed state, without the BEGIN and
ROLLBACK around it that a unit of work would send.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Row, Select

from adapters.sqlalchemy.database import Database
from adapters.sqlalchemy.errors import storage_errors
from adapters.sqlalchemy.repository import SELECT_ONE, select_page, to_user
from adapters.sqlalchemy.stale_connections import once_more_if_found_dead
from application.queries import UserQueries
from domain.repository import UserQuery
from domain.users import User


class SqlUserQueries(UserQueries):
    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, user_id: UUID) -> User | None:
        rows = await self._fetch(SELECT_ONE, {"user_id": user_id})
        return to_user(rows[0]) if rows else None

    async def list(self, query: UserQuery) -> list[User]:
        return [to_user(row) for row in await self._fetch(*select_page(query))]

    async def _fetch(self, statement: Select[Any], parameters: dict[str, Any] | None = None) -> Sequence[Row[Any]]:
        database = self._database

        async def run() -> Sequence[Row[Any]]:
            connection = await database.connect(autocommit=True)
            try:
                rows: Sequence[Row[Any]] = (await connection.execute(statement, parameters)).all()
                return rows
            finally:
                await database.release(connection)

        with storage_errors():
            return await once_more_if_found_dead(run)
