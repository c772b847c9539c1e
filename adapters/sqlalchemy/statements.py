"""The statements of one unit of work's transaction, shared by every repository of that unit of work.

The first statement of a transaction may find its pooled connection dead (see stale_connections.py); it is then
run once more on a fresh connection. Whether a statement is the first is a property of the transaction, not
of a repository: once the idempotency key is claimed, a user statement that finds the connection dead must
not be retried on a fresh one, or it would run in a new transaction that lost the claim.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Executable, Result
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sqlalchemy.stale_connections import found_dead


class TransactionStatements:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._nothing_sent_yet = True

    @property
    def dialect_name(self) -> str:
        return self.session.get_bind().dialect.name

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[*tuple[Any, ...]]:
        if not self._nothing_sent_yet:
            return await self.session.execute(statement, parameters)
        try:
            result = await self.session.execute(statement, parameters)
        except sa_exc.DBAPIError as error:
            if not found_dead(error):
                raise
            # The pooled connection was dead, so none of this transaction reached the database: begin it
            # again on a fresh connection.
            await self.session.rollback()
            result = await self.session.execute(statement, parameters)
        self._nothing_sent_yet = False
        return result
