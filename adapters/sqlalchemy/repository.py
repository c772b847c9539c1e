"""The SQL repository.

Rows are mapped to entities by two explicit functions rather than by the ORM's mapper: ``User`` is an
immutable value whose version is checked on every write, so an identity map and change tracking would add
work and hide the one ``UPDATE ... WHERE version = :expected`` that optimistic concurrency rests on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any, Final, cast
from uuid import UUID

from sqlalchemy import (
    CursorResult,
    Executable,
    Result,
    Row,
    Select,
    String,
    any_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import ARRAY

from adapters.sqlalchemy.errors import reported_value, storage_errors, violated_constraint
from adapters.sqlalchemy.statements import TransactionStatements
from adapters.sqlalchemy.tables import EMAIL_UNIQUE, USERNAME_UNIQUE, users
from domain.errors import DomainError, EmailTaken, UsernameTaken, UserNotFound, VersionConflict
from domain.repository import UserQuery, UserRepository, ensure_distinct
from domain.users import User, username_key

# Values per IN list: two lists stay far below the bind-parameter limits (asyncpg 32767, SQLite 32766).
_IN_CHUNK: Final = 10_000


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


# What a read selects, in the order to_user unpacks it.
_USER_COLUMNS: Final = (
    users.c.id,
    users.c.username,
    users.c.email,
    users.c.full_name,
    users.c.is_active,
    users.c.created_at,
    users.c.updated_at,
    users.c.version,
)
# The statements are built once, with named parameters, and so compiled once (SQLAlchemy's compiled cache).
SELECT_ONE: Final = select(*_USER_COLUMNS).where(users.c.id == bindparam("user_id"))
_INSERT: Final = insert(users)
# RETURNING makes SQLAlchemy send a batch as multi-row INSERTs ("insertmanyvalues"), not one INSERT per row.
_INSERT_MANY: Final = insert(users).returning(users.c.id)
_UPDATE: Final = (
    update(users)
    .where(users.c.id == bindparam("where_id"), users.c.version == bindparam("expected_version"))
    .values({column: bindparam(f"new_{column.name}") for column in users.c})
)
_DELETE: Final = delete(users).where(
    users.c.id == bindparam("user_id"), users.c.version == bindparam("expected_version")
)
# PostgreSQL: two arrays, one prepared statement whatever their length.
_TAKEN_ANY: Final = select(users.c.username_key, users.c.email).where(
    or_(
        users.c.username_key == any_(bindparam("keys", type_=ARRAY(String))),
        users.c.email == any_(bindparam("emails", type_=ARRAY(String))),
    )
)
# SQLite: IN lists, expanded at execution.
_TAKEN_IN: Final = select(users.c.username_key, users.c.email).where(
    or_(
        users.c.username_key.in_(bindparam("keys", expanding=True)),
        users.c.email.in_(bindparam("emails", expanding=True)),
    )
)
# Plans for the values at hand, for the rest of the transaction: see docs/decisions/0003-import-plans.md.
_CUSTOM_PLANS: Final = text("SET LOCAL plan_cache_mode = force_custom_plan")


# One keyset page per combination of filters, built on first use: ascending id, after ``after``, filtered.
_PAGES: dict[tuple[bool, bool, bool, bool], Select[Any]] = {}


def _page_statement(after: bool, is_active: bool, username: bool, email: bool) -> Select[Any]:
    statement = select(*_USER_COLUMNS).order_by(users.c.id).limit(bindparam("limit"))
    if after:
        statement = statement.where(users.c.id > bindparam("after"))
    if is_active:
        statement = statement.where(users.c.is_active == bindparam("is_active"))
    if username:
        statement = statement.where(users.c.username_key == bindparam("username_key"))
    if email:
        statement = statement.where(users.c.email == bindparam("email"))
    return statement


def select_page(query: UserQuery) -> tuple[Select[Any], dict[str, Any]]:
    """The statement of ``query``'s page and its parameters."""
    shape = (query.after is not None, query.is_active is not None, query.username is not None, query.email is not None)
    statement = _PAGES.get(shape)
    if statement is None:
        statement = _PAGES[shape] = _page_statement(*shape)
    parameters: dict[str, Any] = {"limit": query.limit}
    if query.after is not None:
        parameters["after"] = query.after
    if query.is_active is not None:
        parameters["is_active"] = query.is_active
    if query.username is not None:
        parameters["username_key"] = username_key(query.username)
    if query.email is not None:
        parameters["email"] = query.email
    return statement, parameters


def to_user(row: Row[*tuple[Any, ...]]) -> User:
    """The user of a row of ``_USER_COLUMNS``, unpacked by position (cheaper than by name)."""
    id_, username, email, full_name, is_active, created_at, updated_at, version = row
    return User(
        id=id_,
        username=username,
        email=email,
        full_name=full_name,
        is_active=is_active,
        created_at=_utc(created_at),
        updated_at=_utc(updated_at),
        version=version,
    )


class SqlUserRepository(UserRepository):
    def __init__(self, statements: TransactionStatements) -> None:
        self.statements = statements
        self._custom_plans = False

    async def _execute(self, statement: Executable, parameters: Any = None) -> Result[*tuple[Any, ...]]:
        return await self.statements.execute(statement, parameters)

    async def add(self, user: User) -> None:
        with storage_errors(user):
            await self._execute(_INSERT, _to_row(user))

    async def add_many(self, batch: Sequence[User]) -> None:
        ensure_distinct(batch)
        if not batch:
            return
        try:
            with storage_errors():
                # A list of parameter sets: one executemany (asyncpg pipelines it in one round trip).
                await self._execute(_INSERT_MANY, [_to_row(user) for user in batch])
        except sa_exc.IntegrityError as error:
            clash = await self._clash(error, batch)
            if clash is None:
                raise
            raise clash from None

    async def existing_keys(self, username_keys: Collection[str], emails: Collection[str]) -> tuple[set[str], set[str]]:
        keys = sorted({username_key(name) for name in username_keys})
        addresses = sorted({email.lower() for email in emails})
        taken_keys: set[str] = set()
        taken_emails: set[str] = set()
        postgres = self.statements.dialect_name == "postgresql"
        with storage_errors():
            if postgres and not self._custom_plans:
                # Planned for the values at hand, not as a generic plan made while the table was small.
                await self._execute(_CUSTOM_PLANS)
                self._custom_plans = True
            for start in range(0, max(len(keys), len(addresses)), _IN_CHUNK):
                chunk = {"keys": keys[start : start + _IN_CHUNK], "emails": addresses[start : start + _IN_CHUNK]}
                rows = (await self._execute(_TAKEN_ANY if postgres else _TAKEN_IN, chunk)).all()
                taken_keys.update(row.username_key for row in rows)
                taken_emails.update(row.email for row in rows)
        return taken_keys & set(keys), taken_emails & set(addresses)

    async def _clash(self, error: sa_exc.IntegrityError, batch: Sequence[User]) -> DomainError | None:
        """The domain error naming the first user of ``batch`` that broke a unique constraint, if it can tell."""
        constraint = violated_constraint(error)
        value_of: Callable[[User], str]
        if constraint == USERNAME_UNIQUE:
            column, value_of = users.c.username_key, lambda user: username_key(user.username)
        elif constraint == EMAIL_UNIQUE:
            column, value_of = users.c.email, lambda user: user.email
        else:
            return None
        reported = reported_value(error)
        if reported is not None:  # PostgreSQL names the value (and has aborted the transaction: no asking)
            culprit = next((user for user in batch if value_of(user) == reported), None)
        else:  # SQLite does not, but its transaction lives on: who holds each value, other than the batch's own?
            values = [value_of(user) for user in batch]
            holders: dict[str, UUID] = {}
            for start in range(0, len(values), _IN_CHUNK):
                statement = select(column, users.c.id).where(column.in_(values[start : start + _IN_CHUNK]))
                with storage_errors():
                    holders.update((row[0], row[1]) for row in (await self._execute(statement)).all())
            culprit = next((user for user in batch if holders.get(value_of(user), user.id) != user.id), None)
        if culprit is None:
            return None
        return UsernameTaken(culprit.username) if constraint == USERNAME_UNIQUE else EmailTaken(culprit.email)

    async def get(self, user_id: UUID) -> User | None:
        with storage_errors():
            row = (await self._execute(SELECT_ONE, {"user_id": user_id})).first()
        return None if row is None else to_user(row)

    async def list(self, query: UserQuery) -> list[User]:
        with storage_errors():
            rows = (await self._execute(*select_page(query))).all()
        return [to_user(row) for row in rows]

    async def update(self, user: User, *, expected_version: int) -> None:
        parameters = {f"new_{name}": value for name, value in _to_row(user).items()}
        parameters.update(where_id=user.id, expected_version=expected_version)
        with storage_errors(user):
            result = cast(CursorResult[Any], await self._execute(_UPDATE, parameters))
        await self._check_written(result.rowcount, user.id)

    async def remove(self, user_id: UUID, *, expected_version: int) -> None:
        parameters = {"user_id": user_id, "expected_version": expected_version}
        with storage_errors():
            result = cast(CursorResult[Any], await self._execute(_DELETE, parameters))
        await self._check_written(result.rowcount, user_id)

    async def _check_written(self, rowcount: int, user_id: UUID) -> None:
        if rowcount == 1:
            return
        # Nothing matched: tell a vanished user from one whose version moved on.
        if await self.get(user_id) is None:
            raise UserNotFound(user_id)
        raise VersionConflict(user_id)
