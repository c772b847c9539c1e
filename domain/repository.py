"""The repository port: how the application stores and finds users, whatever the storage is."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from uuid import UUID

from domain.errors import EmailTaken, UsernameTaken
from domain.users import User, username_key


@dataclass(frozen=True, slots=True)
class UserQuery:
    """One keyset page of users in creation order (ascending id), optionally filtered.

    ``after`` is the id of the last user of the previous page; ``username`` and ``email`` match exactly but
    case-insensitively.
    """

    limit: int
    after: UUID | None = None
    is_active: bool | None = None
    username: str | None = None
    email: str | None = None


class UserRepository(ABC):
    """Users inside one unit of work. Nothing is durable before the unit of work commits.

    Every adapter obeys the same contract (tests/contract): usernames and emails are unique
    case-insensitively (``UsernameTaken``/``EmailTaken``, raised by ``add``/``update`` or at the latest by the
    commit), and writes are optimistic (``VersionConflict`` when the stored version is not the expected one).
    """

    @abstractmethod
    async def add(self, user: User) -> None: ...

    @abstractmethod
    async def add_many(self, users: Sequence[User]) -> None:
        """Add new users in one go (one statement on SQL), each under the same rules as ``add``.

        If two of ``users`` share a username (whatever its case) or an email, the later one is refused
        (``UsernameTaken``/``EmailTaken`` naming it) before anything is written. Otherwise a user that clashes
        with one this unit of work sees, or with a concurrent write, raises the same errors, naming it, from
        here or at the latest from the commit. After such an error the unit of work may hold part of the
        batch: the caller's only move is to leave it (roll back), which undoes the whole batch.
        """

    @abstractmethod
    async def existing_keys(self, username_keys: Collection[str], emails: Collection[str]) -> tuple[set[str], set[str]]:
        """Which of these usernames and emails are held by a user this unit of work sees (committed ones and
        its own pending writes; not those it removed), in one query on SQL for up to 10,000 of each.

        Both compare case-insensitively; the answer is ``(taken username keys, taken emails)``, in
        ``username_key`` and lower-case form, each a subset of the (normalised) question.
        """

    @abstractmethod
    async def get(self, user_id: UUID) -> User | None: ...

    @abstractmethod
    async def list(self, query: UserQuery) -> list[User]: ...

    @abstractmethod
    async def update(self, user: User, *, expected_version: int) -> None:
        """Store ``user`` in place of the stored one, provided the stored one is at ``expected_version``.

        Raises ``UserNotFound`` if it is gone, ``VersionConflict`` if its version moved on.
        """

    @abstractmethod
    async def remove(self, user_id: UUID, *, expected_version: int) -> None:
        """Delete the user, provided it is at ``expected_version`` (same errors as ``update``)."""


def ensure_distinct(users: Sequence[User]) -> None:
    """Refuse a batch in which a user repeats the username (any case) or the email of an earlier one.

    The adapters' ``add_many`` call it first, so that every adapter names the same user in that case.
    """
    usernames: set[str] = set()
    emails: set[str] = set()
    for user in users:
        key = username_key(user.username)
        if key in usernames:
            raise UsernameTaken(user.username)
        if user.email in emails:
            raise EmailTaken(user.email)
        usernames.add(key)
        emails.add(user.email)
