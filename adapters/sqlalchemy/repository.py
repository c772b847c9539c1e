"""The SQL repository.

Rows are mapped to entities by two explicit functions rather than by the ORM's mapper: ``User`` is an
immutable value whose version is checked on every write, so an identity map and change tracking would add
work and hide the one ``UPDATE ... WHERE version = :expected`` that optimistic concurrency rests on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import CursorResult, Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sqlalchemy.errors import storage_errors
from adapters.sqlalchemy.tables import users
from domain.errors import UserNotFound, VersionConflict
from domain.repository import UserQuery, UserRepository
from domain.users import User, username_key


def _to_row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "username_key": username_key(user.username),
        "email": user.email,
        "full_name": user.full_name,
        "is_active": user.is_active,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "version": user.version,
    }


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _to_user(row: Row[Any]) -> User:
    return User(
        id=row.id,
        username=row.username,
        email=row.email,
        full_name=row.full_name,
        is_active=row.is_active,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        version=row.version,
    )


class SqlUserRepository(UserRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, user: User) -> None:
        with storage_errors(user):
            await self._session.execute(insert(users).values(_to_row(user)))

    async def get(self, user_id: UUID) -> User | None:
        with storage_errors():
            row = (await self._session.execute(select(users).where(users.c.id == user_id))).first()
        return None if row is None else _to_user(row)

    async def list(self, query: UserQuery) -> list[User]:
        statement = select(users).order_by(users.c.id).limit(query.limit)
        if query.after is not None:
            statement = statement.where(users.c.id > query.after)
        if query.is_active is not None:
            statement = statement.where(users.c.is_active == query.is_active)
        if query.username is not None:
            statement = statement.where(users.c.username_key == username_key(query.username))
        if query.email is not None:
            statement = statement.where(users.c.email == query.email)
        with storage_errors():
            rows = (await self._session.execute(statement)).all()
        return [_to_user(row) for row in rows]

    async def update(self, user: User, *, expected_version: int) -> None:
        statement = (
            update(users).where(users.c.id == user.id, users.c.version == expected_version).values(_to_row(user))
        )
        with storage_errors(user):
            result = cast(CursorResult[Any], await self._session.execute(statement))
        await self._check_written(result.rowcount, user.id)

    async def remove(self, user_id: UUID, *, expected_version: int) -> None:
        statement = delete(users).where(users.c.id == user_id, users.c.version == expected_version)
        with storage_errors():
            result = cast(CursorResult[Any], await self._session.execute(statement))
        await self._check_written(result.rowcount, user_id)

    async def _check_written(self, rowcount: int, user_id: UUID) -> None:
        if rowcount == 1:
            return
        # Nothing matched: tell a vanished user from one whose version moved on.
        if await self.get(user_id) is None:
            raise UserNotFound(user_id)
        raise VersionConflict(user_id)
