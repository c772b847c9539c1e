"""The in-memory unit of work."""

from __future__ import annotations

from adapters.memory.idempotency import MemoryIdempotencyRecords
from adapters.memory.repository import MemoryUserRepository
from adapters.memory.store import MemoryStore
from application.unit_of_work import UnitOfWork


class MemoryUnitOfWork(UnitOfWork):
    users: MemoryUserRepository
    idempotency: MemoryIdempotencyRecords

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        self.users = MemoryUserRepository(self.store)
        self.idempotency = MemoryIdempotencyRecords(self.store)

    async def _begin(self) -> None:
        self.users = MemoryUserRepository(self.store)
        self.idempotency = MemoryIdempotencyRecords(self.store)

    async def commit(self) -> None:
        # The users first: if they conflict, nothing is committed, and the claims are let go by the rollback.
        self.users.commit()
        self.idempotency.commit()

    async def rollback(self) -> None:
        self.users.rollback()
        self.idempotency.rollback()
