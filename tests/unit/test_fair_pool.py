"""The connection pool serves waiting requests first come, first served: a connection given back goes to the
request that has waited longest, never to one that arrives later (which SQLAlchemy's own asyncio queue
allowed, starving some requests until the pool timeout under sustained load)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import Empty

from adapters.sqlalchemy import create_engine
from adapters.sqlalchemy.pool import FairAsyncQueuePool, FairQueue


async def _get(queue: FairQueue[str], patience: float | None = 5) -> str:
    # The pool asks from inside SQLAlchemy's greenlet, where a blocking get may await.
    return await greenlet_spawn(queue.get, True, patience)


async def _waiting(queue: FairQueue[str], count: int = 1) -> None:
    """Let the tasks started so far run up to their wait in line."""
    for _ in range(10):
        if len(queue._waiters) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{len(queue._waiters)} waiting, not {count}")


async def test_a_returned_connection_goes_to_the_longest_waiting_request_not_to_a_newcomer() -> None:
    queue: FairQueue[str] = FairQueue(maxsize=2)
    first = asyncio.create_task(_get(queue))
    await _waiting(queue)
    second = asyncio.create_task(_get(queue))
    await _waiting(queue, 2)

    queue.put("a", block=False)
    with pytest.raises(Empty):  # a newcomer asking right now finds nothing idle: "a" is the first waiter's
        queue.get(block=False)
    queue.put("b", block=False)

    assert (await first, await second) == ("a", "b")
    assert queue.qsize() == 0


async def test_with_nobody_waiting_a_connection_waits_idle() -> None:
    queue: FairQueue[str] = FairQueue(maxsize=2)
    queue.put("a", block=False)
    queue.put("b", block=False)

    assert queue.qsize() == 2
    assert queue.full()
    assert await _get(queue) == "a"  # oldest idle first (FIFO, as configured)


async def test_a_request_that_gave_up_waiting_leaves_the_line() -> None:
    queue: FairQueue[str] = FairQueue(maxsize=1)

    with pytest.raises(Empty):  # what the pool turns into its TimeoutError (a 503)
        await _get(queue, patience=0.01)
    queue.put("a", block=False)

    assert queue.qsize() == 1, "the connection must wait idle, not be handed to a request that left"


async def test_a_request_cancelled_after_the_handover_passes_the_connection_on() -> None:
    queue: FairQueue[str] = FairQueue(maxsize=1)
    first = asyncio.create_task(_get(queue))
    await _waiting(queue)
    second = asyncio.create_task(_get(queue))
    await _waiting(queue, 2)

    queue.put("a", block=False)  # handed to the first waiter, which is cancelled before it runs
    first.cancel()

    assert await second == "a"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_the_engine_uses_the_fair_pool(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'users.db'}")
    try:
        assert isinstance(engine.pool, FairAsyncQueuePool)
    finally:
        await engine.dispose()
