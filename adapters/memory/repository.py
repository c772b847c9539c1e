"""The in-memory repository: reads the committed store through the unit of work's own pending writes."""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from adapters.memory.store import MemoryStore
from domain.errors import EmailTaken, UsernameTaken, UserNotFound, VersionConflict
from domain.repository import UserQuery, UserRepository, ensure_distinct
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
        # Who, among the pending writes, holds each username key and email: what a unique index would give.
        self._pending_usernames: dict[str, set[UUID]] = {}
        self._pending_emails: dict[str, set[UUID]] = {}

    async def add(self, user: User) -> None:
        self._check_new(user)
        self._check_unique(user)
        self._record(user.id, _Write(base_version=None, user=user))

    async def add_many(self, users: Sequence[User]) -> None:
        ensure_distinct(users)
        # Every check before the first write: a refused batch leaves nothing behind (SQL may leave part of
        # it until the rollback, which the contract allows).
        for user in users:
            self._check_new(user)
            self._check_unique(user)
        for user in users:
            self._record(user.id, _Write(base_version=None, user=user))

    async def existing_keys(self, username_keys: Collection[str], emails: Collection[str]) -> tuple[set[str], set[str]]:
        taken_keys = {
            key
            for key in {username_key(name) for name in username_keys}
            if self._held_by_other(None, self._store.by_username.get(key), self._pending_usernames.get(key))
        }
        taken_emails = {
            email
            for email in {email.lower() for email in emails}
            if self._held_by_other(None, self._store.by_email.get(email), self._pending_emails.get(email))
        }
        return taken_keys, taken_emails

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
        self._record(user.id, _Write(base_version=base, user=user))

    async def remove(self, user_id: UUID, *, expected_version: int) -> None:
        self._check_version(user_id, expected_version)
        if user_id in self._writes and self._writes[user_id].base_version is None:
            self._record(user_id, None)  # added and removed in the same unit of work: nothing to store
            return
        base = self._writes[user_id].base_version if user_id in self._writes else expected_version
        self._record(user_id, _Write(base_version=base, user=None))

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
        self._forget_writes()

    def rollback(self) -> None:
        self._forget_writes()

    def _record(self, user_id: UUID, write: _Write | None) -> None:
        """Set (or with ``None`` drop) the pending write of a user, keeping the pending indexes in step."""
        old = self._writes.pop(user_id, None)
        if old is not None and old.user is not None:
            self._pending_usernames[username_key(old.user.username)].discard(user_id)
            self._pending_emails[old.user.email].discard(user_id)
        if write is None:
            return
        self._writes[user_id] = write
        if write.user is not None:
            self._pending_usernames.setdefault(username_key(write.user.username), set()).add(user_id)
            self._pending_emails.setdefault(write.user.email, set()).add(user_id)

    def _forget_writes(self) -> None:
        self._writes.clear()
        self._pending_usernames.clear()
        self._pending_emails.clear()

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

    def _check_new(self, user: User) -> None:
        if self._visible(user.id) is not None or user.id in self._store.users:
            raise VersionConflict(user.id)

    def _check_unique(self, user: User) -> None:
        """Would another user hold this username or email once these writes land on the current store?"""
        key = username_key(user.username)
        if self._held_by_other(user.id, self._store.by_username.get(key), self._pending_usernames.get(key)):
            raise UsernameTaken(user.username)
        if self._held_by_other(user.id, self._store.by_email.get(user.email), self._pending_emails.get(user.email)):
            raise EmailTaken(user.email)

    def _held_by_other(self, user_id: UUID | None, stored_owner: UUID | None, pending: set[UUID] | None) -> bool:
        """Is the value held by a user other than ``user_id``: by its stored owner, or by a pending write?"""
        # A stored owner that this unit of work rewrites is judged by its pending write instead.
        if stored_owner is not None and stored_owner != user_id and stored_owner not in self._writes:
            return True
        return any(uid != user_id for uid in pending or ())


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
