"""The committed state of the in-memory adapter, with the indexes a database would keep."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import UUID

from application.idempotency import IdempotencyRecord
from domain.users import User, username_key

RecordSlot = tuple[str, str]
"""Where an idempotency record lives: (scope, key)."""


@dataclass
class MemoryStore:
    """Committed users and idempotency records. Shared by every ``MemoryUnitOfWork`` of one application;
    changed only by commits, except ``claimed_keys``."""

    users: dict[UUID, User] = field(default_factory=dict)
    ordered_ids: list[UUID] = field(default_factory=list)
    by_username: dict[str, UUID] = field(default_factory=dict)
    by_email: dict[str, UUID] = field(default_factory=dict)
    idempotency: dict[RecordSlot, IdempotencyRecord] = field(default_factory=dict)
    claimed_keys: dict[RecordSlot, asyncio.Event] = field(default_factory=dict)
    """The keys that open units of work have claimed, each with the event set when its holder ends."""

    def ids_after(self, after: UUID | None) -> Iterator[UUID]:
        start = 0 if after is None else bisect.bisect_right(self.ordered_ids, after)
        # A copy, so that a commit during an (awaiting) caller's iteration cannot disturb it.
        return iter(self.ordered_ids[start:])

    def put(self, user: User) -> None:
        old = self.users.get(user.id)
        if old is None:
            bisect.insort(self.ordered_ids, user.id)
        else:
            self._unindex(old)
        self.users[user.id] = user
        self.by_username[username_key(user.username)] = user.id
        self.by_email[user.email] = user.id

    def delete(self, user_id: UUID) -> None:
        old = self.users.pop(user_id)
        self._unindex(old)
        del self.ordered_ids[bisect.bisect_left(self.ordered_ids, user_id)]

    def _unindex(self, user: User) -> None:
        del self.by_username[username_key(user.username)]
        del self.by_email[user.email]
