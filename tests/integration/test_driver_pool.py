"""The pool of the PostgreSQL adapters: first come, first served; bounded waits; connections opened when needed
and replaced when they die."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.sqlalchemy import DriverPool
from application.errors import StorageUnavailable

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pool(postgres_url: str) -> AsyncIterator[DriverPool]:
    pool = DriverPool(postgres_url, size=1, timeout=2)
    yield pool
    await pool.close()


async def _waiting(pool: DriverPool, count: int) -> None:
    """Let the tasks started so far run up to their wait in line."""
    for _ in range(100):
        line = pool._line
        if line is not None and len(line._waiters or ()) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"fewer than {count} waiting")


async def test_a_connection_given_back_goes_to_the_longest_waiting_request_not_to_a_newcomer(pool: DriverPool) -> None:
    held = await pool.acquire()
    served: list[str] = []

    async def request(name: str) -> None:
        connection = await pool.acquire()
        served.append(name)
        await pool.release(connection)

    first = asyncio.create_task(request("first"))
    await _waiting(pool, 1)
    second = asyncio.create_task(request("second"))
    await _waiting(pool, 2)
    await pool.release(held)
    newcomer = asyncio.create_task(request("newcomer"))  # arrives as the connection comes back

    await asyncio.gather(first, second, newcomer)
    assert served == ["first", "second", "newcomer"]


async def test_a_request_that_waits_longer_than_the_timeout_is_refused_and_the_pool_serves_on(
    postgres_url: str,
) -> None:
    pool = DriverPool(postgres_url, size=1, timeout=0.2)
    try:
        held = await pool.acquire()
        with pytest.raises(StorageUnavailable, match="no free connection"):
            await pool.acquire()
        await pool.release(held)

        connection = await pool.acquire()  # the refused request left nothing behind: its place is free again
        assert await connection.fetchval("SELECT 1") == 1
        await pool.release(connection)
    finally:
        await pool.close()


async def test_a_discarded_connection_is_closed_and_a_fresh_one_serves_next(pool: DriverPool) -> None:
    connection = await pool.acquire()
    before = await connection.fetchval("SELECT pg_backend_pid()")
    await pool.release(connection, discard=True)

    connection = await pool.acquire()
    after = await connection.fetchval("SELECT pg_backend_pid()")
    await pool.release(connection)
    assert after != before
    assert pool.counts() == (0, 1)


async def test_nothing_is_opened_before_a_connection_is_asked_for() -> None:
    pool = DriverPool("postgresql+asyncpg://nobody@127.0.0.1:9/none", size=2, connect_timeout=1)

    assert pool.counts() == (0, 0)
    with pytest.raises(ConnectionRefusedError):  # the database is away: refused when asked, not at start
        await pool.acquire()
    await pool.close()
