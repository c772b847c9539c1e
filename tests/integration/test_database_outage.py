"""While PostgreSQL is out of reach the service answers 503 quickly; when it is back, the service recovers on
its own, without a restart, and nothing that was acknowledged is lost."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from dependency_injector import providers
from sqlalchemy.engine import make_url

from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.http.problems import assert_problem
from tests.integration.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.cut()


@pytest.fixture
async def client(postgres_url: str, proxy: TcpProxy) -> AsyncIterator[httpx.AsyncClient]:
    through_proxy = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    settings = Settings(database_url=through_proxy.render_as_string(hide_password=False), db_connect_timeout=2)
    container = Container()
    container.settings.override(providers.Object(settings))
    transport = httpx.ASGITransport(app=create_app(container), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await container.engine().dispose()


async def test_outage_gives_fast_503s_and_the_service_recovers_by_itself(
    client: httpx.AsyncClient, proxy: TcpProxy
) -> None:
    before = await client.post("/users", json={"username": "before", "email": "before@example.com"})
    assert before.status_code == 201
    user_path = before.headers["location"]

    await proxy.cut()
    started = time.monotonic()
    for method, path, body in [
        ("GET", user_path, None),
        ("GET", "/users", None),
        ("POST", "/users", {"username": "during", "email": "during@example.com"}),
        ("PATCH", user_path, {"full_name": "during"}),
        ("GET", "/readyz", None),
    ]:
        assert_problem(await client.request(method, path, json=body), 503)
    assert time.monotonic() - started < 10, "requests must fail fast while the database is away"
    assert (await client.get("/healthz")).status_code == 200

    await proxy.start()  # same port: the database is back
    assert (await client.get("/readyz")).status_code == 200
    fetched = await client.get(user_path)
    assert fetched.status_code == 200
    assert fetched.json() == before.json()
    after = await client.post("/users", json={"username": "after", "email": "after@example.com"})
    assert after.status_code == 201
    # The write refused during the outage left nothing behind.
    names = [user["username"] for user in (await client.get("/users")).json()["items"]]
    assert "during" not in names
    assert {"before", "after"} <= set(names)


async def test_connections_killed_while_idle_are_replaced(client: httpx.AsyncClient, proxy: TcpProxy) -> None:
    assert (await client.get("/users")).status_code == 200  # a pooled connection now exists

    await proxy.cut()  # kills it, as a server restart or pg_terminate_backend would
    await proxy.start()

    assert (await client.get("/users")).status_code == 200
