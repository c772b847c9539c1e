"""What every unit of work inherits from the port: the way out of ``async with`` on a lost connection."""

from __future__ import annotations

import pytest

from adapters.memory import MemoryUnitOfWork
from application.errors import StorageUnavailable


class _LostConnection(MemoryUnitOfWork):
    """A unit of work whose connection dies under it: its rollback cannot reach the database."""

    def __init__(self) -> None:
        super().__init__()
        self.ended = 0

    async def rollback(self) -> None:
        raise StorageUnavailable("connection lost")

    async def _end(self) -> None:
        self.ended += 1


async def test_the_error_that_left_the_block_is_reported_not_the_failed_rollback() -> None:
    uow = _LostConnection()

    with pytest.raises(LookupError, match="the use case's own"):
        async with uow:
            raise LookupError("the use case's own error")

    assert uow.ended == 1


async def test_a_rollback_on_a_lost_connection_is_skipped_and_what_was_held_is_given_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    uow = _LostConnection()

    async with uow:
        pass

    assert uow.ended == 1
    assert "rollback skipped" in caplog.text
