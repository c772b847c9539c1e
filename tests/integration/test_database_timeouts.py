"""A request that the database keeps waiting (a lock held elsewhere, every pooled connection busy) gets a
503 problem with Retry-After once DB_STATEMENT_TIMEOUT_SECONDS or DB_POOL_TIMEOUT has passed: it never
hangs, and the same app serves normally as soon as the database is free again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.auth import app_settings
from tests.http.problems import assert_problem
from tests.integration.app_clients import app_client

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

STATEMENT_TIMEOUT = 0.5
POOL_TIMEOUT = 0.5
# Beyond the configured wait: a loaded two-core machine, and the round trips of the request's other statements.
SLACK = 3.0


async def _timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    """The response and how long it took; a request still waiting after half a minute fails the test (a worker
    hung on a lock that nobody will release while the test awaits it)."""
    started = time.monotonic()
    async with asyncio.timeout(30):
        response = await request
    return response, time.monotonic() - started


def _assert_unavailable(response: httpx.Response) -> None:
    assert_problem(response, 503)
    assert int(response.headers["retry-after"]) > 0


async def _wait_for_lock_waiters(engine: AsyncEngine, count: int) -> None:
    """Until ``count`` sessions of this database wait on a lock: the app's requests are then in flight."""
    deadline = time.monotonic() + 10
    while True:
        async with engine.connect() as connection:
            waiting = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting == count:
            return
        assert time.monotonic() < deadline, f"{waiting} requests wait on the lock, expected {count}"
        await asyncio.sleep(0.05)


async def test_a_write_held_up_by_a_row_lock_gets_a_503_once_the_statement_timeout_passes(
    postgres_url: str, blocker_engine: AsyncEngine
) -> None:
    settings = app_settings(database_url=postgres_url, db_statement_timeout_seconds=STATEMENT_TIMEOUT)
    async with app_client(settings) as client:
        created = await client.post("/users", json={"username": "locked", "email": "locked@example.com"})
        user_path = created.headers["location"]
        async with blocker_engine.connect() as blocker:
            await blocker.execute(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": created.json()["id"]})

            response, waited = await _timed(client.patch(user_path, json={"full_name": "too late"}))

            await blocker.rollback()

        _assert_unavailable(response)
        assert STATEMENT_TIMEOUT <= waited < STATEMENT_TIMEOUT + SLACK
        # The cancelled UPDATE left nothing behind, and its connection serves the next requests.
        assert (await client.get(user_path)).json() == created.json()
        changed = await client.patch(user_path, json={"full_name": "in time"})
        assert changed.status_code == 200
        assert changed.json()["version"] == 2


async def test_reads_held_up_by_a_table_lock_get_a_503_once_the_statement_timeout_passes(
    postgres_url: str, blocker_engine: AsyncEngine
) -> None:
    settings = app_settings(database_url=postgres_url, db_statement_timeout_seconds=STATEMENT_TIMEOUT)
    async with app_client(settings) as client:
        created = await client.post("/users", json={"username": "hidden", "email": "hidden@example.com"})
        user_path = created.headers["location"]
        async with blocker_engine.connect() as blocker:
            # What a careless ALTER TABLE or a manual LOCK would do: even plain reads must wait.
            await blocker.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))

            timed = await asyncio.gather(_timed(client.get(user_path)), _timed(client.get("/users")))
            alive = await client.get("/healthz")

            await blocker.rollback()

        for response, waited in timed:
            _assert_unavailable(response)
            assert STATEMENT_TIMEOUT <= waited < STATEMENT_TIMEOUT + SLACK
        assert alive.status_code == 200
        assert (await client.get(user_path)).json() == created.json()
        assert (await client.get("/users")).status_code == 200


async def test_with_every_pooled_connection_busy_requests_get_a_503_after_the_pool_timeout(
    postgres_url: str, blocker_engine: AsyncEngine
) -> None:
    settings = app_settings(
        database_url=postgres_url,
        db_pool_size=2,
        db_max_overflow=0,
        db_pool_timeout=POOL_TIMEOUT,
        db_statement_timeout_seconds=30,  # the two held requests must outlast the test's probes
    )
    async with app_client(settings) as client:
        created = await client.post("/users", json={"username": "busy", "email": "busy@example.com"})
        user_path = created.headers["location"]
        async with blocker_engine.connect() as blocker:
            await blocker.execute(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": created.json()["id"]})
            holding = [asyncio.create_task(client.patch(user_path, json={"full_name": f"held {n}"})) for n in range(2)]
            await _wait_for_lock_waiters(blocker_engine, 2)  # both pooled connections are now taken

            read, read_waited = await _timed(client.get(user_path))
            write, write_waited = await _timed(client.post("/users", json={"username": "late", "email": "l@ex.com"}))
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")

            await blocker.rollback()
            held = await asyncio.gather(*holding)

        for response, waited in ((read, read_waited), (write, write_waited)):
            _assert_unavailable(response)
            assert POOL_TIMEOUT <= waited < POOL_TIMEOUT + SLACK
        readiness = assert_problem(ready, 503)
        assert readiness["checks"]["database"]["status"] == "down"
        assert "pool" in readiness["checks"]["database"]["error"]
        assert alive.status_code == 200
        # The held requests went through once the lock was gone, and the refused POST left nothing behind.
        assert sorted(response.json()["version"] for response in held) == [2, 3]
        assert (await client.get("/users", params={"username": "late"})).json()["items"] == []
        assert (await client.get("/readyz")).status_code == 200
