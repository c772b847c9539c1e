"""The read-side port: finding users without a unit of work.

Reads that change nothing need no transaction: a ``UserQueries`` answers each call from the latest committed
state in one statement, which is what the hot read paths (GET one, list a page) want. Writes, and reads that
decide a write, go through the ``UnitOfWork`` as before.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from uuid import UUID

from domain.repository import UserQuery
from domain.users import User


class UserQueries(ABC):
    """Committed users only: what a unit of work has not committed is never seen. Same matching and order as
    ``UserRepository.get`` and ``UserRepository.list`` (tests/contract holds every adapter to both)."""

    @abstractmethod
    async def get(self, user_id: UUID) -> User | None: ...

    @abstractmethod
    async def list(self, query: UserQuery) -> list[User]: ...
