"""Errors outside the /users contract, health, readiness and the published API description."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from dependency_injector import providers

from application.unit_of_work import UnitOfWork
from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.http.problems import assert_problem


async def test_an_unknown_path_is_a_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nowhere"), 404)


async def test_a_wrong_method_is_a_problem_that_names_the_allowed_ones(client: httpx.AsyncClient) -> None:
    response = await client.put("/users")
    assert_problem(response, 405)
    assert "POST" in response.headers["allow"]


async def test_healthz_and_readyz_answer(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_the_api_is_described(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert {"/users", "/users/{user_id}", "/healthz", "/readyz"} <= set(spec["paths"])
    username = spec["components"]["schemas"]["UserCreate"]["properties"]["username"]
    assert username["maxLength"] == 32
    assert (await client.get("/docs")).status_code == 200


class _BrokenUnitOfWork(UnitOfWork):
    async def _begin(self) -> None:
        raise RuntimeError("secret internal detail: password=hunter2")

    async def commit(self) -> None:
        raise AssertionError("unreachable")

    async def rollback(self) -> None:
        raise AssertionError("unreachable")


@pytest.fixture
async def broken_client() -> AsyncIterator[httpx.AsyncClient]:
    container = Container()
    container.settings.override(providers.Object(Settings(database_url="memory://")))
    container.unit_of_work.override(providers.Factory(_BrokenUnitOfWork))
    transport = httpx.ASGITransport(app=create_app(container), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    container.unit_of_work.reset_override()
    container.unwire()


@pytest.mark.memory
async def test_an_unexpected_error_is_a_bare_500_problem(broken_client: httpx.AsyncClient) -> None:
    response = await broken_client.get("/users")
    body = assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert body["type"] == "about:blank"


@pytest.fixture
async def unreachable_client() -> AsyncIterator[httpx.AsyncClient]:
    # Nothing listens on port 9 (discard) here: every connection attempt is refused at once.
    container = Container()
    container.settings.override(
        providers.Object(Settings(database_url="postgresql://nobody@127.0.0.1:9/nothing", db_connect_timeout=2))
    )
    transport = httpx.ASGITransport(app=create_app(container), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await container.engine().dispose()
    container.unwire()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/users", None),
        ("GET", "/users/01a20000-0000-7000-8000-000000000000", None),
        ("POST", "/users", {"username": "ann", "email": "ann@example.com"}),
        ("PATCH", "/users/01a20000-0000-7000-8000-000000000000", {"full_name": "x"}),
        ("DELETE", "/users/01a20000-0000-7000-8000-000000000000", None),
    ],
)
async def test_an_unreachable_database_is_a_503_problem(
    unreachable_client: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    response = await unreachable_client.request(method, path, json=body)
    problem = assert_problem(response, 503)
    assert problem["type"].endswith("unavailable")
    assert response.headers["retry-after"]


@pytest.mark.postgres
async def test_readyz_is_503_while_the_database_is_unreachable(unreachable_client: httpx.AsyncClient) -> None:
    assert_problem(await unreachable_client.get("/readyz"), 503)
    assert (await unreachable_client.get("/healthz")).status_code == 200
