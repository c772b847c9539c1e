"""The SQL read side: one statement per call on a pooled connection in autocommit mode.

A unit of work would wrap each read in BEGIN ... ROLLBACK and an ORM session: two extra round trips and a
good share of the CPU of a GET (measured with make bench and py-spy). A lone SELECT needs neither: in
autocommit it still sees exactly the committed state.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqlalchemy.errors import storage_errors
from adapters.sqlalchemy.repository import select_one, select_page, to_user
from application.queries import UserQueries
from domain.repository import UserQuery
from domain.users import User


class SqlUserQueries(UserQueries):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def get(self, user_id: UUID) -> User | None:
        with storage_errors():
            async with self._engine.connect() as connection:
                row = (await connection.execute(select_one(user_id))).first()
        return None if row is None else to_user(row)

    async def list(self, query: UserQuery) -> list[User]:
        with storage_errors():
            async with self._engine.connect() as connection:
                rows = (await connection.execute(select_page(query))).all()
        return [to_user(row) for row in rows]
