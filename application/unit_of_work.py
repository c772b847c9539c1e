"""The unit-of-work port: one atomic piece of work against the storage."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from application.errors import StorageUnavailable
from application.idempotency import IdempotencyRecords
from domain.repository import UserRepository

log = logging.getLogger(__name__)


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
        try:
            # Rolling back after a commit is a no-op, so this is safe on every path.
            await self.rollback()
        except StorageUnavailable:
            # The connection died, and the server dropped the uncommitted transaction with it: there is
            # nothing left to undo, and the error that brought us here (if any) is the one to report.
            log.warning("rollback skipped: the connection was lost")
        finally:
            await self._end()

    @abstractmethod
    async def _begin(self) -> None: ...

    # Not abstract: a unit of work that holds nothing (the in-memory one, a test's own) needs no cleanup.
    async def _end(self) -> None:  # noqa: B027
        """Give back what ``_begin`` took (a connection, a session); runs on every way out of the block."""

    @abstractmethod
    async def commit(self) -> None: ...

    @abstractmethod
    async def rollback(self) -> None: ...
