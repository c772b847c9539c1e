"""While PostgreSQL is out of reach the service answers 503 quickly; when it is back, the service recovers on
its own, without a restart, and nothing that was acknowledged is lost."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.sqlalchemy import migrations
from tests.auth import app_settings
from tests.databases import create_database, drop_database
from tests.http.problems import assert_problem
from tests.integration.app_clients import app_client
from tests.integration.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.postgres, pytest.mark.faults]


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
    settings = app_settings(database_url=through_proxy.render_as_string(hide_password=False), db_connect_timeout=2)
    async with app_client(settings) as client:
        yield client


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


async def test_a_commit_whose_acknowledgement_is_lost_is_a_503_and_the_write_is_there_in_full(
    client: httpx.AsyncClient, proxy: TcpProxy
) -> None:
    sent = {"username": "unsure", "email": "unsure@example.com", "full_name": "Committed, unacknowledged"}

    proxy.lose_next_commit_acknowledgement()
    response = await client.post("/users", json=sent)

    # The service cannot tell "not done" from "done, answer lost": a 503, as for any lost connection...
    assert_problem(response, 503)
    # ...but the database had committed it, whole: a retry learns so from the 409 and reads it back.
    assert_problem(await client.post("/users", json=sent), 409)
    [stored] = (await client.get("/users", params={"username": "unsure"})).json()["items"]
    assert {name: stored[name] for name in sent} == sent
    assert stored["version"] == 1


REQUESTS = {
    "find": ("GET", "{user}", None),
    "list": ("GET", "/users", None),
    "create": ("POST", "/users", {"username": "new-{tag}", "email": "new-{tag}@example.com"}),
    "change": ("PATCH", "{user}", {"full_name": "changed {tag}"}),
    "delete": ("DELETE", "{user}", None),
    "readiness": ("GET", "/readyz", None),
}


async def _fill_the_pool(client: httpx.AsyncClient) -> tuple[str, str]:
    """Two users' paths, with several connections idle in the pool afterwards."""
    paths = []
    for _ in range(2):
        tag = secrets.token_hex(4)
        created = await client.post("/users", json={"username": f"pooled-{tag}", "email": f"pooled-{tag}@example.com"})
        assert created.status_code == 201
        paths.append(str(created.headers["location"]))
    # Several at once, so that several connections are checked out, then returned to the pool.
    responses = await asyncio.gather(*(client.get(paths[0]) for _ in range(8)))
    assert {response.status_code for response in responses} == {200}
    return paths[0], paths[1]


async def _request(client: httpx.AsyncClient, kind: str, user_path: str) -> httpx.Response:
    method, path, body = REQUESTS[kind]
    if body is not None:
        tag = secrets.token_hex(4)
        body = {name: str(value).format(tag=tag) for name, value in body.items()}
    return await client.request(method, path.format(user=user_path), json=body)


async def _first_and_next_requests_succeed(client: httpx.AsyncClient, first: str, users: tuple[str, str]) -> None:
    """``first`` alone, on a pool of dead connections; then every kind of request, all at once (so that
    several connections are taken from the pool: none may be one of the dead), and a DELETE last."""
    response = await _request(client, first, users[0])
    assert response.status_code < 300, f"{first}: {response.text}"

    kinds = [kind for kind in REQUESTS if kind != "delete"]
    responses = await asyncio.gather(*(_request(client, kind, users[1]) for kind in kinds))
    responses.append(await _request(client, "delete", users[1]))
    failed = {
        kind: response.text for kind, response in zip([*kinds, "delete"], responses, strict=True) if response.is_error
    }
    assert not failed, f"after {first}: {failed}"


@pytest.mark.parametrize("first", REQUESTS)
async def test_connections_cut_while_idle_are_replaced(client: httpx.AsyncClient, proxy: TcpProxy, first: str) -> None:
    users = await _fill_the_pool(client)

    await proxy.cut()  # kills every pooled connection, as a server restart would
    await proxy.start()

    await _first_and_next_requests_succeed(client, first, users)


@pytest.mark.parametrize("first", REQUESTS)
async def test_backends_terminated_by_the_server_are_replaced(
    client: httpx.AsyncClient, postgres_url: str, first: str
) -> None:
    users = await _fill_the_pool(client)

    admin = create_async_engine(postgres_url)
    try:
        async with admin.connect() as connection:
            terminated = await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert len(terminated.all()) >= 2
    finally:
        await admin.dispose()

    await _first_and_next_requests_succeed(client, first, users)


async def test_a_database_dropped_while_the_service_runs_gives_503s(postgres_server_url: str) -> None:
    url = await create_database(postgres_server_url)
    try:
        await asyncio.to_thread(migrations.upgrade, url)
        async with app_client(app_settings(database_url=url)) as client:
            assert (await client.get("/users")).status_code == 200

            await drop_database(postgres_server_url, url)  # WITH (FORCE): the pool's connections are ended too

            for path in ("/users", f"/users/{uuid.uuid4()}", "/readyz"):
                assert_problem(await client.get(path), 503)
    finally:
        await drop_database(postgres_server_url, url)
