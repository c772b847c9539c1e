"""Errors outside the /users contract, health, readiness and the published API description."""

from __future__ import annotations

from collections.abc import AsyncIterator
from unittest.mock import ANY

import httpx
import pytest
from dependency_injector import providers
from dependency_injector.ext.starlette import Lifespan

from entrypoints.container import Container
from entrypoints.http.app import create_app
from tests.auth import app_settings, bearer
from tests.http.problems import assert_problem


async def test_an_unknown_path_is_a_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nowhere"), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/users", "GET, HEAD, POST"),
        ("POST", "/users/0190b4c2-58a0-7d3e-8f1a-6b2c3d4e5f60", "DELETE, GET, HEAD, PATCH"),
        ("DELETE", "/healthz", "GET, HEAD"),
    ],
)
async def test_a_wrong_method_is_a_problem_that_names_every_allowed_one(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert_problem(response, 405)
    assert response.headers["allow"] == allowed


async def test_head_answers_wherever_get_does_without_a_body(client: httpx.AsyncClient) -> None:
    created = await client.post("/users", json={"username": "headed", "email": "headed@example.com"})
    path = f"/users/{created.json()['id']}"
    got = await client.get(path)

    for target in (path, "/users?limit=5", "/healthz"):
        response = await client.head(target)
        assert response.status_code == 200, target
        assert response.content == b""
    headed = await client.head(path)
    assert headed.headers["etag"] == got.headers["etag"]
    assert headed.headers["content-length"] == got.headers["content-length"]
    assert (await client.head("/users/0190b4c2-58a0-7d3e-8f1a-6b2c3d4e5f60")).status_code == 404


async def test_healthz_and_readyz_answer(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body == {"status": "ready", "checks": {"database": {"status": "up", "latency_ms": ANY}}}
    latency = body["checks"]["database"]["latency_ms"]
    assert isinstance(latency, int | float)
    assert 0 <= latency < 5000


async def test_the_api_is_described(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert {"/users", "/users/{user_id}", "/healthz", "/readyz"} <= set(spec["paths"])
    username = spec["components"]["schemas"]["UserCreate"]["properties"]["username"]
    assert username["maxLength"] == 32
    assert (await client.get("/docs")).status_code == 200


@pytest.mark.memory
async def test_an_unexpected_error_is_a_bare_500_problem(crashing_client: httpx.AsyncClient) -> None:
    response = await crashing_client.post("/users", json={"username": "crash", "email": "crash@example.com"})
    body = assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert body["type"] == "about:blank"


@pytest.fixture
async def unreachable_client() -> AsyncIterator[httpx.AsyncClient]:
    # Nothing listens on port 9 (discard) here: every connection attempt is refused at once.
    container = Container()
    container.settings.override(
        providers.Object(app_settings(database_url="postgresql://nobody@127.0.0.1:9/nothing", db_connect_timeout=2))
    )
    transport = httpx.ASGITransport(app=create_app(container), raise_app_exceptions=False)
    async with (
        Lifespan(container.storage()),
        httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=bearer()) as client,
    ):
        yield client


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
    response = await unreachable_client.get("/readyz")
    problem = assert_problem(response, 503)
    assert problem["type"].endswith("unavailable")
    assert response.headers["retry-after"]
    database = problem["checks"]["database"]
    assert database["status"] == "down"
    assert isinstance(database["latency_ms"], int | float)
    assert database["latency_ms"] >= 0
    assert database["error"].startswith("the database does not answer (")  # (ConnectionRefusedError) here
    assert len(database["error"]) < 80
    for secret in ("nobody", "127.0.0.1", "nothing"):  # nothing of the URL: user, host, database
        assert secret not in response.text
    assert (await unreachable_client.get("/healthz")).status_code == 200


async def test_the_readiness_answers_are_described(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    answers = spec["paths"]["/readyz"]["get"]["responses"]
    ready = answers["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schemas[ready]["properties"]) == {"status", "checks"}
    not_ready = answers["503"]["content"]["application/problem+json"]["schema"]
    assert {"type", "title", "status", "detail", "checks"} <= set(not_ready["properties"])
    check = not_ready["properties"]["checks"]["additionalProperties"]["$ref"].rsplit("/", 1)[-1]
    assert set(schemas[check]["properties"]) == {"status", "latency_ms", "error"}
    assert "application/json" not in answers["503"].get("content", {})


async def test_every_error_answer_is_described_as_a_problem(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert {"type", "title", "status", "detail"} <= set(schemas["Problem"]["required"])
    assert "errors" in schemas["ValidationProblem"]["required"]
    errors = {
        (method, path, status): answer
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for status, answer in operation["responses"].items()
        if int(status) >= 400
    }
    assert ("post", "/users", "413") in errors
    assert ("patch", "/users/{user_id}", "412") in errors
    validation = {"$ref": "#/components/schemas/ValidationProblem"}
    for (method, _, status), answer in errors.items():
        assert set(answer["content"]) == {"application/problem+json"}, answer
        schema = answer["content"]["application/problem+json"]["schema"]
        if status == "422" and method in {"post", "patch"}:  # or a reused Idempotency-Key, without errors
            assert schema == {"anyOf": [validation, {"$ref": "#/components/schemas/Problem"}]}
        elif status == "422":
            assert schema == validation
    # FastAPI's own validation error is never what a client gets, so it is not described.
    assert "HTTPValidationError" not in schemas


async def test_the_limits_on_requests_are_described_where_they_apply(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    # The server refuses an oversized request head on every path; a body deadline applies to bodies.
    for operations in paths.values():
        for operation in operations.values():
            assert {"414", "431"} <= set(operation["responses"])
    assert "408" in paths["/users"]["post"]["responses"]
    assert "408" in paths["/users/{user_id}"]["patch"]["responses"]
    assert "408" not in paths["/users/{user_id}"]["get"]["responses"]


async def test_the_success_headers_are_described(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"Location", "ETag"} <= set(paths["/users"]["post"]["responses"]["201"]["headers"])
    assert "ETag" in paths["/users/{user_id}"]["get"]["responses"]["200"]["headers"]
    assert "ETag" in paths["/users/{user_id}"]["patch"]["responses"]["200"]["headers"]
    assert "Retry-After" in paths["/users"]["get"]["responses"]["503"]["headers"]
