"""Surviving pooled connections that died while idle (database restart, failover, pg_terminate_backend).

The pool does not test a connection before handing it out: with asyncpg, SQLAlchemy's pre-ping costs three
round trips per checkout (BEGIN, a ping, ROLLBACK), more than a GET's own query. Instead a statement that
finds its connection dead is run once more: SQLAlchemy has then marked the whole pool as stale, so the second
try gets a fresh connection. That is safe exactly when nothing was done yet: a lone read, or the first
statement of a transaction (whatever reached the server died with its connection, uncommitted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import exc as sa_exc

T = TypeVar("T")


def found_dead(error: BaseException) -> bool:
    return isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated


async def once_more_if_found_dead(run: Callable[[], Awaitable[T]]) -> T:
    try:
        return await run()
    except sa_exc.DBAPIError as error:
        if not found_dead(error):
            raise
    return await run()
