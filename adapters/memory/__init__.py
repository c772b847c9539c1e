"""An in-memory storage adapter with the same contract as the SQL one, for tests and throw-away runs.

store = MemoryStore()
uow = MemoryUnitOfWork(store)   # a fresh unit of work per use-case call, all sharing one store
"""

from adapters.memory.queries import MemoryUserQueries
from adapters.memory.readiness import MemoryReadiness
from adapters.memory.store import MemoryStore
from adapters.memory.unit_of_work import MemoryUnitOfWork

__all__ = ["MemoryReadiness", "MemoryStore", "MemoryUnitOfWork", "MemoryUserQueries"]
