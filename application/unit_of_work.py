"""The unit-of-work port: one atomic piece of work against the storage."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from application.idempotency import IdempotencyRecords
from domain.repository import UserRepository


class UnitOfWork(ABC):
    """``async with uow:`` opens a transaction; ``await uow.commit()`` makes its writes durable.

    Leaving the block without a commit (normally or by an exception) rolls everything back, so a use case
    can never leave half its writes behind. One instance may be entered again after it has exited; each
    entry is a new transaction.
    """

    users: UserRepository
    idempotency: IdempotencyRecords

    async def __aenter__(self) -> Self:
        await self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Rolling back after a commit is a no-op, so this is safe on every path.
        await self.rollback()

    @abstractmethod
    async def _begin(self) -> None: ...

    @abstractmethod
    async def commit(self) -> None: ...

    @abstractmethod
    async def rollback(self) -> None: ...
