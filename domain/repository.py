"""The repository port: how the application stores and finds users, whatever the storage is."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from uuid import UUID

from domain.users import User


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
