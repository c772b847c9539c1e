"""The in-memory read side: the repository's reads, on the committed store alone."""

from __future__ import annotations

from uuid import UUID

from adapters.memory.repository import MemoryUserRepository
from adapters.memory.store import MemoryStore
from application.queries import UserQueries
from domain.repository import UserQuery
from domain.users import User


class MemoryUserQueries(UserQueries):
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def get(self, user_id: UUID) -> User | None:
        # A repository with no pending writes reads exactly the committed state.
        return await MemoryUserRepository(self.store).get(user_id)

    async def list(self, query: UserQuery) -> list[User]:
        return await MemoryUserRepository(self.store).list(query)
