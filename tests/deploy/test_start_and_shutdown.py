"""The container's start command, run as a process against PostgreSQL: it migrates, serves, lets replicas
migrate together, and shuts down gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqlalchemy import migrations
from tests.auth import bearer
from tests.databases import throwaway_database
from tests.deploy.container_files import dockerfile_stages
from tests.http.problems import assert_problem
from tests.server_process import USERS_SERVICE, running_server

pytestmark = pytest.mark.postgres


@pytest.fixture
async def fresh_database(postgres_server_url: str) -> AsyncIterator[str]:
    """An empty database, without even the schema: the start command must create it."""
    async with throwaway_database(postgres_server_url) as url:
        yield url


def _container_command_and_env(database_url: str) -> tuple[list[str], dict[str, str]]:
    runtime = dockerfile_stages()[-1]
    command = runtime.last("CMD").exec_form()
    assert command[0] == "users-service"
    env = {name: value for name, value in runtime.env().items() if name not in {"PATH", "HOST", "PORT"}}
    env["DATABASE_URL"] = database_url  # what compose.yaml sets
    return [USERS_SERVICE, *command[1:]], env


async def test_the_container_start_command_migrates_then_serves(fresh_database: str) -> None:
    command, env = _container_command_and_env(fresh_database)

    with running_server(env, command) as server:
        async with httpx.AsyncClient(base_url=server.base_url, headers=bearer()) as client:
            created = await client.post("/users", json={"username": "boot", "email": "boot@example.com"})
            assert created.status_code == 201
            assert (await client.get("/readyz")).status_code == 200
        assert await asyncio.to_thread(server.stop) == 0

    current, head = await asyncio.to_thread(migrations.revisions, fresh_database)
    assert current == head


async def test_replicas_starting_together_migrate_once_without_failing(fresh_database: str) -> None:
    def migrate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [USERS_SERVICE, "migrate"],
            env={"DATABASE_URL": fresh_database, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    results = await asyncio.gather(*(asyncio.to_thread(migrate) for _ in range(4)))

    for result in results:
        assert result.returncode == 0, result.stderr
    current, head = await asyncio.to_thread(migrations.revisions, fresh_database)
    assert current == head


async def test_sigterm_lets_in_flight_requests_finish_then_exits_0(
    postgres_url: str, blocker_engine: AsyncEngine
) -> None:
    engine = blocker_engine
    with running_server({"DATABASE_URL": postgres_url, "SHUTDOWN_GRACE_SECONDS": "20"}) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, headers=bearer()) as client:
            created = await client.post("/users", json={"username": "slowpoke", "email": "slowpoke@example.com"})
            user_path = created.headers["location"]
            async with engine.connect() as blocker:
                # Hold the user's row: the PATCHes below wait on it, in flight, inside the server.
                await blocker.execute(
                    text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": created.json()["id"]}
                )
                in_flight = [
                    asyncio.create_task(client.patch(user_path, json={"full_name": f"slow {n}"})) for n in range(3)
                ]
                await asyncio.sleep(1.0)
                assert not any(task.done() for task in in_flight)

                server.process.send_signal(15)  # SIGTERM, as docker stop sends
                await asyncio.sleep(1.0)
                assert server.process.poll() is None, "the server left before its requests finished"
                with pytest.raises(httpx.ConnectError):  # no new connections while it drains
                    await httpx.AsyncClient(base_url=server.base_url).get("/healthz")
                await blocker.rollback()

            responses = await asyncio.gather(*in_flight)
        assert [response.status_code for response in responses] == [200, 200, 200]
        assert sorted(response.json()["version"] for response in responses) == [2, 3, 4]

        started = time.monotonic()
        assert await asyncio.to_thread(server.stop) == 0
        assert time.monotonic() - started < 10
        assert "Application shutdown complete" in server.log()


async def test_sigterm_does_not_wait_longer_than_the_grace_period(
    postgres_url: str, blocker_engine: AsyncEngine
) -> None:
    engine = blocker_engine
    with running_server({"DATABASE_URL": postgres_url, "SHUTDOWN_GRACE_SECONDS": "1"}) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, headers=bearer()) as client:
            created = await client.post("/users", json={"username": "stuck", "email": "stuck@example.com"})
            async with engine.connect() as blocker:
                await blocker.execute(
                    text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": created.json()["id"]}
                )
                stuck = asyncio.create_task(client.patch(created.headers["location"], json={"full_name": "never"}))
                await asyncio.sleep(0.5)

                started = time.monotonic()
                returncode = await asyncio.to_thread(server.stop)
                waited = time.monotonic() - started
                await blocker.rollback()
            # Cut off by the grace period: told to retry, in the same problem format as every other error.
            cut_off = assert_problem(await stuck, 503)
            assert cut_off["type"] == "urn:users-service:problem:shutting-down"
        assert returncode == 0
        assert 0.5 < waited < 8
        # One warning line for the request, no traceback.
        log = server.log()
        assert "PATCH /users/{user_id} cut off by shutdown after the grace period" in log
        assert "Traceback" not in log
        assert "Exception in ASGI application" not in log
        assert [json.loads(line)["level"] for line in log.splitlines() if "timeout graceful shutdown" in line] == [
            "warning"
        ]
        assert '"level": "error"' not in log
