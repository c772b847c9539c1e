"""The use cases on users. Each opens its own unit of work and either commits all of its writes or none.

A write given an ``IdempotentWrite`` (a request with an idempotency key) happens at most once for that key;
see application/idempotent_writes.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar
from uuid import UUID

from application.errors import PreconditionFailed
from application.idempotent_writes import IdempotentWrite, transaction
from application.queries import UserQueries
from application.unit_of_work import UnitOfWork
from domain.errors import UserNotFound, VersionConflict
from domain.repository import UserQuery
from domain.users import User, UserChanges, canonical_email, is_valid_username

T = TypeVar("T")

MAX_PAGE_SIZE: Final = 100
DEFAULT_PAGE_SIZE: Final = 50
# An unconditional change that loses a race is re-applied on the fresh state rather than refused; a few
# tries are enough for any realistic contention on one user.
_UNCONDITIONAL_TRIES: Final = 5


@dataclass(frozen=True, slots=True)
class UserPage:
    items: list[User]
    next_after: UUID | None
    """The ``after`` of the next page, or ``None`` when this page is the last."""


@dataclass(frozen=True, slots=True)
class UserFilter:
    is_active: bool | None = None
    username: str | None = None
    email: str | None = None


async def register_user(
    uow: UnitOfWork,
    *,
    username: object,
    email: object,
    full_name: object = None,
    is_active: object = True,
    idempotency: IdempotentWrite[User] | None = None,
) -> User:
    user = User.register(username=username, email=email, full_name=full_name, is_active=is_active)
    async with transaction(uow, idempotency) as tx:
        await uow.users.add(user)
        await tx.commit(user)
    return user


async def get_user(queries: UserQueries, user_id: UUID) -> User:
    user = await queries.get(user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user


async def list_users(
    queries: UserQueries,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    after: UUID | None = None,
    where: UserFilter = UserFilter(),
) -> UserPage:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    email = where.email
    if where.email is not None:
        email = canonical_email(where.email)
        if email is None:
            return UserPage(items=[], next_after=None)
    if where.username is not None and not is_valid_username(where.username):
        # No stored user can have such a name, so there is nothing to look for.
        return UserPage(items=[], next_after=None)
    query = UserQuery(limit=limit + 1, after=after, is_active=where.is_active, username=where.username, email=email)
    users = await queries.list(query)
    if len(users) > limit:
        return UserPage(items=users[:limit], next_after=users[limit - 1].id)
    return UserPage(items=users, next_after=None)


async def update_user(
    uow: UnitOfWork,
    user_id: UUID,
    changes: UserChanges,
    *,
    if_version_in: frozenset[int] | None = None,
    idempotency: IdempotentWrite[User] | None = None,
) -> User:
    """Apply ``changes``; with ``if_version_in``, only while the user is at one of those versions."""

    async def write(current: User) -> User:
        changed = current.change(changes)
        if changed is not current:
            await uow.users.update(changed, expected_version=current.version)
        return changed

    return await _write_current(uow, user_id, if_version_in, write, idempotency)


async def delete_user(uow: UnitOfWork, user_id: UUID, *, if_version_in: frozenset[int] | None = None) -> None:
    async def write(current: User) -> None:
        await uow.users.remove(user_id, expected_version=current.version)

    await _write_current(uow, user_id, if_version_in, write, None)


async def _write_current(
    uow: UnitOfWork,
    user_id: UUID,
    if_version_in: frozenset[int] | None,
    write: Callable[[User], Awaitable[T]],
    idempotency: IdempotentWrite[T] | None,
) -> T:
    """Run ``write`` on the current user in one unit of work, optimistically.

    A conditional write that loses a race fails with ``PreconditionFailed``, as if it had come a moment later;
    an unconditional one is re-run on the fresh state, so no concurrent change is silently overwritten.
    """
    for _ in range(_UNCONDITIONAL_TRIES):
        async with transaction(uow, idempotency) as tx:
            current = await uow.users.get(user_id)
            if current is None:
                raise UserNotFound(user_id)
            if if_version_in is not None and current.version not in if_version_in:
                raise PreconditionFailed(user_id)
            try:
                result = await write(current)
                await tx.commit(result)
            except VersionConflict:
                if if_version_in is not None:
                    raise PreconditionFailed(user_id) from None
                continue
            return result
    raise VersionConflict(user_id)
