"""What the PostgreSQL adapters on the driver share: the SQL that reads users, and what a unit of work's
repositories need from it.

Through SQLAlchemy's execution layer (statement building, cache keys, execution context, greenlet hops,
result wrapping, and the ORM session on the write side) a statement cost several times the CPU of the same
statement on asyncpg: 850-1,060 against 300 us for a PATCH's BEGIN, SELECT, UPDATE and COMMIT (measured in
one process, 32 concurrent units of work). So on PostgreSQL the read side and the unit of work send fixed SQL
text, which asyncpg prepares once per connection and keeps in its statement cache.

The connections come from an asyncpg pool of their own (postgres_pool.py), with the sizes, timeouts and
statement timeout of the settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, TypeVar

import asyncpg  # type: ignore[import-untyped]

from domain.repository import UserQuery
from domain.users import User, username_key

T = TypeVar("T")

COLUMNS: Final = "id, username, email, full_name, is_active, created_at, updated_at, version"
SELECT_ONE: Final = f"SELECT {COLUMNS} FROM users WHERE id = $1"  # noqa: S608 - constant text, values are bound


def to_user(row: asyncpg.Record) -> User:
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


def select_page(query: UserQuery) -> tuple[str, list[Any]]:
    """The keyset page of ``query`` (as ``repository.select_page`` builds it for SQLAlchemy), as SQL text and
    its arguments."""
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
    return f"SELECT {COLUMNS} FROM users{where} ORDER BY id LIMIT ${len(arguments)}", arguments  # noqa: S608


def rows_changed(status: str) -> int:
    """The row count of a command tag: ``UPDATE 1`` -> 1."""
    return int(status.rpartition(" ")[2])


LaterWrite = Callable[[asyncpg.Connection], Awaitable[None]]
"""A write whose outcome nobody reads before the commit: it runs the statement and raises its own errors."""


class UnitOfWorkStatements(Protocol):
    """What the repositories of a unit of work need from it (postgres_unit_of_work.DriverTransaction)."""

    async def read(self, statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run a read that sees the unit of work's own writes."""
        ...

    async def in_transaction(self) -> asyncpg.Connection:
        """The connection, inside the unit of work's transaction: for writes whose outcome is needed now."""
        ...

    async def write_later(self, write: LaterWrite) -> None:
        """Run ``write`` before the next statement, or alone at the commit."""
        ...
