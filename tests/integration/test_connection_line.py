"""The line in front of the engine's pool: first come, first served; bounded waits; nothing opened before use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from adapters.sqlalchemy import Database
from application.errors import StorageUnavailable

pytestmark = pytest.mark.postgres


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    database = Database.open(postgres_url, pool_size=1, pool_timeout=2)
    yield database
    await database.dispose()


async def _until(condition: object, what: str) -> None:
    for _ in range(200):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(what)


async def test_a_connection_given_back_goes_to_the_longest_waiting_request_not_to_a_newcomer(
    database: Database,
) -> None:
    held = await database.connect()
    served: list[str] = []
    asked: list[str] = []

    async def request(name: str) -> None:
        asked.append(name)
        async with database.connection() as connection:
            served.append(name)
            await connection.execute(text("SELECT 1"))

    first = asyncio.create_task(request("first"))
    await _until(lambda: asked == ["first"], "the first request did not ask")
    second = asyncio.create_task(request("second"))
    await _until(lambda: asked == ["first", "second"], "the second request did not ask")
    await database.release(held)
    newcomer = asyncio.create_task(request("newcomer"))  # arrives as the connection comes back

    await asyncio.gather(first, second, newcomer)
    assert served == ["first", "second", "newcomer"]


async def test_a_request_that_waits_longer_than_the_timeout_is_refused_and_the_line_serves_on(
    postgres_url: str,
) -> None:
    database = Database.open(postgres_url, pool_size=1, pool_timeout=0.2)
    try:
        held = await database.connect()
        with pytest.raises(StorageUnavailable, match="no free connection"):
            await database.connect()
        assert database.in_use() == 1
        await database.release(held)

        async with database.connection() as connection:  # the refused request left nothing behind
            assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
        assert database.in_use() == 0
    finally:
        await database.dispose()


async def test_32_concurrent_units_of_work_on_20_connections_all_wait_less_than_a_second(postgres_url: str) -> None:
    database = Database.open(postgres_url, pool_size=20, pool_timeout=10)
    waits: list[float] = []

    async def unit_of_work() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(10):
            asked = loop.time()
            async with database.connection() as connection:
                waits.append(loop.time() - asked)
                await connection.execute(text("SELECT pg_sleep(0.005)"))

    try:
        await asyncio.gather(*(unit_of_work() for _ in range(32)))
    finally:
        await database.dispose()
    assert len(waits) == 320
    assert max(waits) < 1.0


async def test_nothing_is_opened_before_a_connection_is_asked_for() -> None:
    database = Database.open("postgresql+asyncpg://nobody@127.0.0.1:9/none", pool_size=2, connect_timeout=1)

    assert database.in_use() == 0
    with pytest.raises(ConnectionRefusedError):  # the database is away: refused when asked, not at start
        await database.connect()
    assert database.in_use() == 0
    await database.dispose()
