"""The in-memory repository: reads the committed store through the unit of work's own pending writes."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from uuid import UUID

from adapters.memory.store import MemoryStore
from domain.errors import EmailTaken, UsernameTaken, UserNotFound, VersionConflict
from domain.repository import UserQuery, UserRepository
from domain.users import User, username_key


@dataclass(frozen=True, slots=True)
class _Write:
    base_version: int | None
    """The version the write expects in the store; ``None`` for a new user."""
    user: User | None
    """The user after the write; ``None`` for a deletion."""


class MemoryUserRepository(UserRepository):
    """Behaves like one database transaction at READ COMMITTED: it sees the latest commits plus its own writes."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._writes: dict[UUID, _Write] = {}

    async def add(self, user: User) -> None:
        if self._visible(user.id) is not None or user.id in self._store.users:
            raise VersionConflict(user.id)
        self._check_unique(user)
        self._writes[user.id] = _Write(base_version=None, user=user)

    async def get(self, user_id: UUID) -> User | None:
        return self._visible(user_id)

    async def list(self, query: UserQuery) -> list[User]:
        after = query.after
        new_ids = sorted(
            uid for uid, write in self._writes.items() if write.base_version is None and (after is None or uid > after)
        )
        found: list[User] = []
        for uid in _unique(heapq.merge(self._store.ids_after(after), new_ids)):
            user = self._visible(uid)
            if user is not None and _matches(user, query):
                found.append(user)
                if len(found) == query.limit:
                    break
        return found

    async def update(self, user: User, *, expected_version: int) -> None:
        self._check_version(user.id, expected_version)
        self._check_unique(user)
        base = self._writes[user.id].base_version if user.id in self._writes else expected_version
        self._writes[user.id] = _Write(base_version=base, user=user)

    async def remove(self, user_id: UUID, *, expected_version: int) -> None:
        self._check_version(user_id, expected_version)
        if user_id in self._writes and self._writes[user_id].base_version is None:
            del self._writes[user_id]  # added and removed in the same unit of work: nothing to store
            return
        base = self._writes[user_id].base_version if user_id in self._writes else expected_version
        self._writes[user_id] = _Write(base_version=base, user=None)

    def commit(self) -> None:
        """Apply every pending write at once, or none if any of them conflicts with what was committed since.

        No ``await`` in here: on one event loop, the check and the apply are atomic.
        """
        store = self._store
        for uid, write in self._writes.items():
            stored = store.users.get(uid)
            if write.base_version is None:
                if stored is not None:
                    raise VersionConflict(uid)
            elif stored is None:
                raise UserNotFound(uid)
            elif stored.version != write.base_version:
                raise VersionConflict(uid)
        for write in self._writes.values():
            if write.user is not None:
                self._check_unique(write.user)
        for uid, write in self._writes.items():
            if write.user is None:
                store.delete(uid)
            else:
                store.put(write.user)
        self._writes.clear()

    def rollback(self) -> None:
        self._writes.clear()

    def _visible(self, user_id: UUID) -> User | None:
        write = self._writes.get(user_id)
        if write is not None:
            return write.user
        return self._store.users.get(user_id)

    def _check_version(self, user_id: UUID, expected_version: int) -> None:
        current = self._visible(user_id)
        if current is None:
            raise UserNotFound(user_id)
        if current.version != expected_version:
            raise VersionConflict(user_id)

    def _check_unique(self, user: User) -> None:
        """Would another user hold this username or email once these writes land on the current store?"""
        key = username_key(user.username)
        if self._held_by_other(
            user.id, self._store.by_username.get(key), lambda other: username_key(other.username) == key
        ):
            raise UsernameTaken(user.username)
        if self._held_by_other(user.id, self._store.by_email.get(user.email), lambda other: other.email == user.email):
            raise EmailTaken(user.email)

    def _held_by_other(self, user_id: UUID, stored_owner: UUID | None, holds: Callable[[User], bool]) -> bool:
        # A stored owner that this unit of work rewrites is judged by its pending write instead.
        if stored_owner is not None and stored_owner != user_id and stored_owner not in self._writes:
            return True
        return any(
            uid != user_id and write.user is not None and holds(write.user) for uid, write in self._writes.items()
        )


def _matches(user: User, query: UserQuery) -> bool:
    return (
        (query.is_active is None or user.is_active == query.is_active)
        and (query.username is None or username_key(user.username) == username_key(query.username))
        and (query.email is None or user.email == query.email)
    )


def _unique(ids: Iterable[UUID]) -> Iterable[UUID]:
    last = None
    for uid in ids:
        if uid != last:
            yield uid
        last = uid
