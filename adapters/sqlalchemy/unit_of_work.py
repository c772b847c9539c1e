"""The SQL unit of work: one ``AsyncSession`` and one explicit transaction per ``async with``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.sqlalchemy.errors import storage_errors
from adapters.sqlalchemy.idempotency import SqlIdempotencyRecords
from adapters.sqlalchemy.repository import SqlUserRepository
from adapters.sqlalchemy.statements import TransactionStatements
from application.unit_of_work import UnitOfWork


class SqlUnitOfWork(UnitOfWork):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory
        self._session: AsyncSession | None = None

    async def _begin(self) -> None:
        self._session = self._session_factory()
        # Explicit, so that every statement of the use case runs in this one transaction.
        await self._session.begin()
        statements = TransactionStatements(self._session)
        self.users = SqlUserRepository(statements)
        self.idempotency = SqlIdempotencyRecords(statements)

    async def commit(self) -> None:
        with storage_errors():
            await self._active_session().commit()

    async def rollback(self) -> None:
        with storage_errors():
            await self._active_session().rollback()

    async def _end(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _active_session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside its 'async with' block")
        return self._session
