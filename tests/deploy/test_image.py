"""The service image, run as production runs it: next to a PostgreSQL container, read-only, not root.

Two replicas start at once on an empty database; the tests then check what an operator relies on: one
migrates and both serve, Docker's health check, the user and file system, JSON logs, tokens minted with the
image's own CLI, and a graceful `docker stop`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.deploy.engine import (
    LOOPBACK,
    POSTGRES_IMAGE,
    SERVICE_IMAGE,
    address_on,
    answers,
    docker_client,
    published_port,
    wait_for,
)
from tests.run_log import tell

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

pytestmark = pytest.mark.docker

SECRET = "deploy-tests-" + secrets.token_hex(16)
PASSWORD = "deploy-" + secrets.token_hex(8)
IMAGE_SIZE_GOAL_MB = 180
IMAGE_SIZE_LIMIT_MB = 215  # today's size with a little room: a regression guard; the goal is reported, not enforced
GRACE_SECONDS = 20


@dataclass
class Stack:
    client: DockerClient
    network: str
    postgres: Container
    server_url: str
    """The PostgreSQL server as the tests reach it (published port on 127.0.0.1)."""
    internal_url: str
    """The same server as the service containers reach it (its address on their network)."""
    started: list[Container]

    def database_urls(self, name: str) -> tuple[str, str]:
        return (
            make_url(self.server_url).set(database=name).render_as_string(hide_password=False),
            make_url(self.internal_url).set(database=name).render_as_string(hide_password=False),
        )

    def service(self, database_url: str, **environment: str) -> Container:
        container = self.client.containers.run(
            SERVICE_IMAGE,
            detach=True,
            network=self.network,
            read_only=True,
            environment={"DATABASE_URL": database_url, "AUTH_JWT_SECRET": SECRET} | environment,
            ports={"8000/tcp": (LOOPBACK, None)},
        )
        self.started.append(container)
        return container


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    client = docker_client()
    network = client.networks.create(f"users-deploy-{secrets.token_hex(4)}")
    started: list[Container] = []
    try:
        postgres = client.containers.run(
            POSTGRES_IMAGE,
            detach=True,
            network=network.name,
            environment={"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": PASSWORD, "POSTGRES_DB": "postgres"},
            ports={"5432/tcp": (LOOPBACK, None)},
        )
        started.append(postgres)
        server_url = f"postgresql+asyncpg://postgres:{PASSWORD}@{LOOPBACK}:{published_port(postgres, 5432)}/postgres"
        internal_url = f"postgresql://postgres:{PASSWORD}@{address_on(postgres, network.name)}:5432/postgres"
        wait_for(lambda: asyncio.run(_accepts(server_url)), seconds=60, what="PostgreSQL container accepting")
        yield Stack(client, network.name, postgres, server_url, internal_url, started)
    finally:
        for container in started:
            container.remove(force=True)
        network.remove()
        client.close()


async def _accepts(url: str) -> bool:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True
    except Exception:  # not up yet
        return False
    finally:
        await engine.dispose()


async def _run(url: str, statement: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text(statement))
            return [tuple(row) for row in result.all()] if result.returns_rows else []
    finally:
        await engine.dispose()


@dataclass
class Replicas:
    database_url: str
    containers: list[Container]

    def base_url(self, index: int) -> str:
        return f"http://{LOOPBACK}:{published_port(self.containers[index], 8000)}"


@pytest.fixture(scope="module")
def replicas(stack: Stack) -> Replicas:
    """Two replicas started at the same moment on an empty database (no schema yet), both answering /readyz."""
    asyncio.run(_run(stack.server_url, 'CREATE DATABASE "replicas"'))
    tests_url, containers_url = stack.database_urls("replicas")
    started = [stack.service(containers_url) for _ in range(2)]
    running = Replicas(tests_url, started)
    for index in range(2):
        wait_for(answers(f"{running.base_url(index)}/readyz"), seconds=60, what=f"replica {index} ready")
    return running


def _token(stack: Stack, *scopes: str) -> str:
    arguments = ["users-service", "token"] + [part for scope in scopes for part in ("--scope", scope)]
    output: bytes = stack.client.containers.run(
        SERVICE_IMAGE, arguments, environment={"AUTH_JWT_SECRET": SECRET}, remove=True, network_disabled=True
    )
    return output.decode().strip().splitlines()[-1]


def test_replicas_starting_together_migrate_once_and_both_serve(replicas: Replicas) -> None:
    for index in range(2):
        assert httpx.get(f"{replicas.base_url(index)}/healthz").status_code == 200
        assert httpx.get(f"{replicas.base_url(index)}/readyz").status_code == 200
    versions = asyncio.run(_run(replicas.database_url, "SELECT version_num FROM alembic_version"))
    assert len(versions) == 1
    upgrades = [container.logs(stdout=True, stderr=True).count(b"Running upgrade") for container in replicas.containers]
    assert sorted(upgrades)[0] == 0, upgrades  # one replica found the schema made by the other
    assert sum(upgrades) >= 1, upgrades


def test_dockers_health_check_reports_healthy(replicas: Replicas) -> None:
    container = replicas.containers[0]

    def healthy() -> bool:
        container.reload()
        status: str = container.attrs["State"]["Health"]["Status"]
        assert status != "unhealthy", container.attrs["State"]["Health"]
        return status == "healthy"

    wait_for(healthy, seconds=60, what="HEALTHCHECK healthy", interval=1)


def test_the_process_runs_as_uid_10001_on_a_read_only_root(replicas: Replicas) -> None:
    container = replicas.containers[0]
    container.reload()
    assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
    status = container.exec_run(["python", "-c", "import os; print(open('/proc/1/status').read())"])
    fields = dict(line.split(":", 1) for line in status.output.decode().splitlines() if ":" in line)
    assert fields["Uid"].split()[:2] == ["10001", "10001"]
    assert fields["Gid"].split()[:2] == ["10001", "10001"]
    written = container.exec_run(["python", "-c", "open('/app/probe', 'w')"])
    assert written.exit_code != 0
    assert b"Read-only file system" in written.output


def test_logs_on_stdout_are_json_lines(replicas: Replicas) -> None:
    for container in replicas.containers:
        lines = container.logs(stdout=True, stderr=False).decode().splitlines()
        assert lines
        for line in lines:
            record = json.loads(line)
            assert {"timestamp", "level", "message"} <= record.keys(), record


def test_a_token_minted_by_the_images_cli_is_accepted(stack: Stack, replicas: Replicas) -> None:
    headers = {"Authorization": f"Bearer {_token(stack, 'users:read', 'users:write')}"}
    base_url = replicas.base_url(1)

    created = httpx.post(
        f"{base_url}/users", json={"username": "imaged", "email": "imaged@example.com"}, headers=headers
    )
    assert created.status_code == 201, created.text
    found = httpx.get(f"{base_url}/users/{created.json()['id']}", headers=headers)
    assert found.status_code == 200
    assert found.json()["username"] == "imaged"
    assert httpx.get(f"{base_url}/users/{created.json()['id']}").status_code == 401


def test_docker_stop_answers_the_request_in_flight_and_exits_0(stack: Stack, replicas: Replicas) -> None:
    _, containers_url = stack.database_urls("replicas")
    container = stack.service(containers_url, SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS))
    base_url = f"http://{LOOPBACK}:{published_port(container, 8000)}"
    wait_for(answers(f"{base_url}/readyz"), seconds=60, what="server ready")
    headers = {"Authorization": f"Bearer {_token(stack, 'users:read')}"}
    answered: list[httpx.Response] = []

    async def hold_the_table_then_stop() -> float:
        engine = create_async_engine(replicas.database_url)
        try:
            async with engine.connect() as connection, connection.begin():
                # The page read waits behind this lock: it is in flight when the stop arrives.
                await connection.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
                reader = threading.Thread(
                    target=lambda: answered.append(httpx.get(f"{base_url}/users", headers=headers, timeout=30))
                )
                reader.start()
                await asyncio.sleep(1)
                stop_started = time.monotonic()
                stopper = threading.Thread(target=lambda: container.stop(timeout=GRACE_SECONDS + 10))
                stopper.start()
                await asyncio.sleep(1)  # the server has the SIGTERM and waits for the read
            await asyncio.to_thread(reader.join, 30)
            await asyncio.to_thread(stopper.join, GRACE_SECONDS + 15)
            return time.monotonic() - stop_started
        finally:
            await engine.dispose()

    seconds = asyncio.run(hold_the_table_then_stop())

    assert [response.status_code for response in answered] == [200]
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 0
    assert seconds < GRACE_SECONDS


def test_the_image_size_is_reported_and_does_not_grow(stack: Stack, pytestconfig: pytest.Config) -> None:
    size_mb = stack.client.images.get(SERVICE_IMAGE).attrs["Size"] / 1e6
    verdict = "met" if size_mb < IMAGE_SIZE_GOAL_MB else "missed"
    tell(pytestconfig, f"\n{SERVICE_IMAGE}: {size_mb:.1f} MB (goal: under {IMAGE_SIZE_GOAL_MB} MB, {verdict})")
    assert size_mb < IMAGE_SIZE_LIMIT_MB
