"""Who may call what: bearer tokens with scopes on every /users route, the open operational paths, the write
rate limit, CORS and the headers every response carries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI

from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.tokens import METRICS_SCOPE, READ_SCOPE, WRITE_SCOPE
from tests.auth import app_settings, bearer, token
from tests.http.problems import assert_problem

pytestmark = pytest.mark.memory

_UNKNOWN_ID = "01a20000-0000-7000-8000-000000000000"
_NEW_USER = {"username": "guarded", "email": "guarded@example.com"}

# Every /users operation and the scope it needs.
_OPERATIONS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/users", None, READ_SCOPE),
    ("GET", f"/users/{_UNKNOWN_ID}", None, READ_SCOPE),
    ("POST", "/users", _NEW_USER, WRITE_SCOPE),
    ("PATCH", f"/users/{_UNKNOWN_ID}", {"full_name": "X"}, WRITE_SCOPE),
    ("DELETE", f"/users/{_UNKNOWN_ID}", None, WRITE_SCOPE),
]


def _app(**settings: Any) -> FastAPI:
    container = Container()
    container.settings.override(providers.Object(app_settings(database_url="memory://", **settings)))
    return create_app(container)


@pytest.fixture
async def anonymous() -> AsyncIterator[httpx.AsyncClient]:
    """A client of a memory-backed app that sends no credentials of its own."""
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _call(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "scope"), _OPERATIONS)
async def test_no_token_is_a_401_with_a_bearer_challenge(
    anonymous: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None, scope: str
) -> None:
    response = await _call(anonymous, method, path, body, {})
    problem = assert_problem(response, 401)
    assert problem["type"].endswith(":unauthenticated")
    assert response.headers["www-authenticate"] == 'Bearer realm="users-service"'


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Bearer not.a.jwt", "malformed"),
        (f"Bearer {token(READ_SCOPE, secret='another-secret-that-is-long-enough-0123456789')}", "signature"),
        (f"Bearer {token(READ_SCOPE, lifetime_seconds=-3600)}", "expired"),
        ("Basic dXNlcjpwYXNz", None),  # not a bearer token at all: as if none were sent
        ("Bearer ", None),
    ],
)
async def test_an_invalid_token_is_a_401_saying_why(
    anonymous: httpx.AsyncClient, authorization: str, reason: str | None
) -> None:
    response = await anonymous.get("/users", headers={"Authorization": authorization})
    problem = assert_problem(response, 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="users-service"')
    if reason is None:
        assert "error=" not in challenge
    else:
        assert 'error="invalid_token"' in challenge
        assert reason in problem["detail"]


async def test_tokens_for_another_audience_or_issuer_are_refused() -> None:
    app = _app(auth_jwt_audience="billing", auth_jwt_issuer="users-service")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        wrong_audience = await client.get("/users", headers=bearer())
        assert "aud" in assert_problem(wrong_audience, 401)["detail"]
    app = _app(auth_jwt_issuer="https://issuer.example")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        wrong_issuer = await client.get("/users", headers=bearer())
        assert "iss" in assert_problem(wrong_issuer, 401)["detail"]


@pytest.mark.parametrize(("method", "path", "body", "scope"), _OPERATIONS)
async def test_a_token_without_the_scope_is_a_403_naming_it(
    anonymous: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None, scope: str
) -> None:
    other = WRITE_SCOPE if scope == READ_SCOPE else READ_SCOPE
    response = await _call(anonymous, method, path, body, bearer(other))
    problem = assert_problem(response, 403)
    assert scope in problem["detail"]
    assert f'error="insufficient_scope", scope="{scope}"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(("method", "path", "body", "scope"), _OPERATIONS)
async def test_the_scope_is_enough(
    anonymous: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None, scope: str
) -> None:
    response = await _call(anonymous, method, path, body, bearer(scope))
    assert response.status_code in {200, 201, 404}, response.text


async def test_without_a_token_nothing_about_users_leaks(anonymous: httpx.AsyncClient) -> None:
    created = await anonymous.post("/users", json=_NEW_USER, headers=bearer(WRITE_SCOPE))
    existing = created.headers["location"]
    for path in (existing, f"/users/{_UNKNOWN_ID}", "/users/not-a-uuid", "/users?limit=-5"):
        response = await anonymous.get(path)
        assert response.status_code == 401
        assert response.json()["detail"] == "A bearer token is required."
    # Not even whether a body would parse.
    garbage = await anonymous.post("/users", content=b"{not json", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 401


async def test_health_readiness_docs_and_metrics_stay_open(anonymous: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert (await anonymous.get(path)).status_code == 200, path


async def test_metrics_can_require_their_own_scope() -> None:
    app = _app(metrics_require_auth=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert_problem(await client.get("/metrics"), 401)
        assert_problem(await client.get("/metrics", headers=bearer(READ_SCOPE, WRITE_SCOPE)), 403)
        assert (await client.get("/metrics", headers=bearer(METRICS_SCOPE))).status_code == 200
        assert (await client.get("/healthz")).status_code == 200


async def test_the_api_description_declares_the_bearer_scheme(anonymous: httpx.AsyncClient) -> None:
    spec = (await anonymous.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["bearer"]["description"],
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            guarded = path.startswith("/users")
            assert (operation.get("security") == [{"bearer": []}]) == guarded, (method, path)
            if guarded:
                assert {"401", "403"} <= operation["responses"].keys(), (method, path)


async def test_with_auth_disabled_anyone_may_call() -> None:
    app = _app(auth_disabled=True, auth_jwt_secret=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.post("/users", json=_NEW_USER)).status_code == 201
        assert (await client.get("/users")).status_code == 200


async def test_writes_beyond_the_allowance_are_a_429_with_retry_after() -> None:
    app = _app(rate_limit_writes_per_second=0.5, rate_limit_write_burst=3)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        alice, bob = bearer(subject="alice"), bearer(subject="bob")
        statuses = []
        for number in range(4):
            body = {"username": f"alice{number}", "email": f"alice{number}@example.com"}
            statuses.append((await client.post("/users", json=body, headers=alice)).status_code)
        assert statuses == [201, 201, 201, 429]
        limited = await client.patch(f"/users/{_UNKNOWN_ID}", json={"full_name": "A"}, headers=alice)
        problem = assert_problem(limited, 429)
        assert problem["type"].endswith(":rate-limited")
        assert limited.headers["retry-after"] == "2"  # one token at 0.5 per second
        # Other clients keep their own allowance, and reads are not limited.
        assert (await client.post("/users", json=_NEW_USER, headers=bob)).status_code == 201
        assert (await client.get("/users", headers=alice)).status_code == 200


async def test_every_response_carries_the_security_headers(anonymous: httpx.AsyncClient) -> None:
    responses = [
        await anonymous.get("/healthz"),
        await anonymous.get("/users"),
        await anonymous.get("/nowhere"),
        await anonymous.post("/users", json=_NEW_USER, headers=bearer()),
    ]
    for response in responses:
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert headers["cache-control"] == "no-store"
        assert "server" not in headers
    # The interactive docs load their script from the service: their own policy allows that, and no more.
    docs = await anonymous.get("/docs")
    assert docs.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self' 'sha256-")
    assert docs.headers["x-content-type-options"] == "nosniff"


async def test_cors_is_off_unless_origins_are_configured(anonymous: httpx.AsyncClient) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    refused = await anonymous.options("/users", headers=preflight)
    assert "access-control-allow-origin" not in refused.headers
    plain = await anonymous.get("/healthz", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in plain.headers

    app = _app(cors_allow_origins="https://app.example, https://admin.example")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        allowed = await client.options(
            "/users", headers=preflight | {"Access-Control-Request-Headers": "authorization, idempotency-key"}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert "POST" in allowed.headers["access-control-allow-methods"]
        other = await client.options("/users", headers=preflight | {"Origin": "https://evil.example"})
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        got = await client.get("/users", headers={"Origin": "https://app.example", **bearer()})
        assert got.headers["access-control-allow-origin"] == "https://app.example"
        assert "etag" in got.headers["access-control-expose-headers"].lower()
