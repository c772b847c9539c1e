"""The PostgreSQL repository, on the driver: the same contract as ``repository.SqlUserRepository`` (the
portable one, which SQLite uses), with fixed SQL text run on the unit of work's asyncpg connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, Final, TypeVar
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]

from adapters.sqlalchemy.errors import reported_value, storage_errors, violated_constraint
from adapters.sqlalchemy.postgres_driver import SELECT_ONE, UnitOfWorkStatements, rows_changed, select_page, to_user
from adapters.sqlalchemy.tables import EMAIL_UNIQUE, USERNAME_UNIQUE
from domain.errors import DomainError, EmailTaken, UsernameTaken, UserNotFound, VersionConflict
from domain.repository import UserQuery, UserRepository, ensure_distinct
from domain.users import User, username_key

T = TypeVar("T")

_INSERT: Final = (
    "INSERT INTO users (id, username, username_key, email, full_name, is_active, created_at, updated_at, version)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_UPDATE: Final = (
    "UPDATE users SET username = $3, username_key = $4, email = $5, full_name = $6, is_active = $7,"
    " created_at = $8, updated_at = $9, version = $10 WHERE id = $1 AND version = $2"
)
_DELETE: Final = "DELETE FROM users WHERE id = $1 AND version = $2"
# Arrays rather than IN lists: one prepared statement whatever the number of values, planned with the indexes.
_EXISTING_KEYS: Final = (
    "SELECT username_key, email FROM users WHERE username_key = ANY($1::varchar[]) OR email = ANY($2::varchar[])"
)


def _row(user: User) -> tuple[Any, ...]:
    return (
        user.id,
        user.username,
        username_key(user.username),
        user.email,
        user.full_name,
        user.is_active,
        user.created_at,
        user.updated_at,
        user.version,
    )


class PostgresUserRepository(UserRepository):
    def __init__(self, statements: UnitOfWorkStatements) -> None:
        self._statements = statements

    async def add(self, user: User) -> None:
        async def insert(connection: asyncpg.Connection) -> None:
            with storage_errors(user):
                await connection.execute(_INSERT, *_row(user))

        await self._statements.write_later(insert)

    async def add_many(self, batch: Sequence[User]) -> None:
        ensure_distinct(batch)
        if not batch:
            return
        try:
            with storage_errors():
                connection = await self._statements.in_transaction()
                await connection.executemany(_INSERT, [_row(user) for user in batch])
        except asyncpg.UniqueViolationError as error:
            clash = _clash(error, batch)
            if clash is None:
                raise
            raise clash from None

    async def existing_keys(self, username_keys: Collection[str], emails: Collection[str]) -> tuple[set[str], set[str]]:
        keys = {username_key(name) for name in username_keys}
        addresses = {email.lower() for email in emails}
        rows = await self._read(lambda connection: connection.fetch(_EXISTING_KEYS, list(keys), list(addresses)))
        return {row[0] for row in rows} & keys, {row[1] for row in rows} & addresses

    async def get(self, user_id: UUID) -> User | None:
        row = await self._read(lambda connection: connection.fetchrow(SELECT_ONE, user_id))
        return None if row is None else to_user(row)

    async def list(self, query: UserQuery) -> list[User]:
        sql, arguments = select_page(query)
        rows = await self._read(lambda connection: connection.fetch(sql, *arguments))
        return [to_user(row) for row in rows]

    async def update(self, user: User, *, expected_version: int) -> None:
        async def update(connection: asyncpg.Connection) -> None:
            with storage_errors(user):
                status = await connection.execute(_UPDATE, user.id, expected_version, *_row(user)[1:])
            await self._check_written(status, user.id)

        await self._statements.write_later(update)

    async def remove(self, user_id: UUID, *, expected_version: int) -> None:
        async def delete(connection: asyncpg.Connection) -> None:
            with storage_errors():
                status = await connection.execute(_DELETE, user_id, expected_version)
            await self._check_written(status, user_id)

        await self._statements.write_later(delete)

    async def _read(self, statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        with storage_errors():
            return await self._statements.read(statement)

    async def _check_written(self, status: str, user_id: UUID) -> None:
        if rows_changed(status) == 1:
            return
        # Nothing matched: tell a vanished user from one whose version moved on.
        if await self.get(user_id) is None:
            raise UserNotFound(user_id)
        raise VersionConflict(user_id)


def _clash(error: asyncpg.UniqueViolationError, batch: Sequence[User]) -> DomainError | None:
    """The domain error naming the user of ``batch`` that broke a unique constraint: PostgreSQL names the value
    (and has aborted the transaction, so there is nobody to ask)."""
    constraint = violated_constraint(error)
    reported = reported_value(error)
    if constraint == USERNAME_UNIQUE:
        culprit = next((user for user in batch if username_key(user.username) == reported), None)
        return None if culprit is None else UsernameTaken(culprit.username)
    if constraint == EMAIL_UNIQUE:
        culprit = next((user for user in batch if user.email == reported), None)
        return None if culprit is None else EmailTaken(culprit.email)
    return None
