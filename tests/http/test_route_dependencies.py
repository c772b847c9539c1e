"""Routes declare their collaborators as FastAPI dependencies: a test (or an embedding app) can replace one
through ``app.dependency_overrides`` without touching the container."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import httpx
import pytest
from dependency_injector import providers

from application.errors import StorageUnavailable
from application.queries import UserQueries
from application.readiness import ReadinessProbe
from domain.repository import UserQuery
from domain.users import User
from entrypoints.container import Container
from entrypoints.http import dependencies
from entrypoints.http.app import create_app
from tests.auth import app_settings, bearer
from tests.http.problems import assert_problem

pytestmark = pytest.mark.memory


class _Away(UserQueries):
    async def get(self, user_id: UUID) -> User | None:
        raise StorageUnavailable("the read replica is away")

    async def list(self, query: UserQuery) -> list[User]:
        raise StorageUnavailable("the read replica is away")


class _Down(ReadinessProbe):
    async def check(self) -> None:
        raise StorageUnavailable("switched off by the test")


@pytest.fixture
async def overridden() -> AsyncIterator[httpx.AsyncClient]:
    container = Container()
    container.settings.override(providers.Object(app_settings(database_url="memory://")))
    app = create_app(container)

    async def away() -> UserQueries:
        return _Away()

    async def down() -> ReadinessProbe:
        return _Down()

    app.dependency_overrides[dependencies.user_queries] = away
    app.dependency_overrides[dependencies.readiness_probe] = down
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=bearer()) as client:
        yield client


async def test_an_overridden_read_side_serves_the_reads(overridden: httpx.AsyncClient) -> None:
    assert_problem(await overridden.get(f"/users/{uuid4()}"), 503)
    assert_problem(await overridden.get("/users"), 503)


async def test_writes_keep_the_container_s_unit_of_work(overridden: httpx.AsyncClient) -> None:
    created = await overridden.post("/users", json={"username": "alice", "email": "alice@example.com"})
    assert created.status_code == 201


async def test_an_overridden_readiness_probe_answers_readyz(overridden: httpx.AsyncClient) -> None:
    response = await overridden.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "down"
