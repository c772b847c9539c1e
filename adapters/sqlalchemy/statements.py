"""The statements of one unit of work's transaction, shared by every repository of that unit of work.

The first statement of a transaction may find its pooled connection dead (see stale_connections.py); the
transaction is then begun again on a fresh connection and the statement sent once more. Whether a statement is
the first is a property of the transaction, not of a repository: once an idempotency key is claimed, a user
statement that finds the connection dead must not be retried, or it would run in a new transaction that lost
the claim.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Executable, Result
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.stale_connections import found_dead


class TransactionStatements:
    def __init__(self, connection: AsyncConnection, dialect_name: str) -> None:
        self.connection = connection
        self.dialect_name = dialect_name
        self._nothing_sent_yet = True

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[*tuple[Any, ...]]:
        if not self._nothing_sent_yet:
            return await self.connection.execute(statement, parameters)
        try:
            result = await self.connection.execute(statement, parameters)
        except sa_exc.DBAPIError as error:
            if not found_dead(error):
                raise
            # None of this transaction reached the database: begin it again on a fresh connection.
            await self.connection.rollback()
            await self.connection.begin()
            result = await self.connection.execute(statement, parameters)
        self._nothing_sent_yet = False
        return result
