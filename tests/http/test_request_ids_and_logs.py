"""Request ids on every response and every log line; one access-log line per request; JSON logs; no personal
data (e-mail addresses, full names) in any log record at INFO or above."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from entrypoints.http.app import MAX_BODY_BYTES
from entrypoints.logs import current_request_id
from tests.http.conftest import CapturedLogs
from tests.http.problems import assert_problem

_GENERATED = re.compile(r"[0-9a-f]{32}")  # 32 hex digits
_RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_UNKNOWN_ID = "01a20000-0000-7000-8000-000000000000"


# --- request ids -----------------------------------------------------------------------------------------------


async def test_a_request_id_is_generated_for_each_request(client: httpx.AsyncClient) -> None:
    first = (await client.get("/healthz")).headers["x-request-id"]
    second = (await client.get("/healthz")).headers["x-request-id"]
    assert _GENERATED.fullmatch(first)
    assert _GENERATED.fullmatch(second)
    assert first != second


@pytest.mark.parametrize("given", ["abc", "7f1c0e6a-2b1d-4c55-9d0e-3f5a8c1b2d4e", "a.b_c:d-e", "x" * 128])
async def test_a_valid_client_request_id_is_kept(client: httpx.AsyncClient, given: str) -> None:
    assert (await client.get("/healthz", headers={"X-Request-ID": given})).headers["x-request-id"] == given


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        "x" * 129,
        "has space",
        "<script>alert(1)</script>",
        '"quoted"',
        "new\\nline",
        "semi;colon",
        "ünïcode",
        "alice@example.com",
    ],
)
async def test_an_invalid_client_request_id_is_replaced_not_echoed(
    client: httpx.AsyncClient, logs: CapturedLogs, hostile: str
) -> None:
    response = await client.get("/healthz", headers={b"X-Request-ID": hostile.encode()})
    assert _GENERATED.fullmatch(response.headers["x-request-id"])
    if hostile:
        assert hostile not in logs.output.getvalue()
    assert logs.access()[-1]["request_id"] == response.headers["x-request-id"]


async def test_problem_responses_carry_the_request_id(client: httpx.AsyncClient) -> None:
    headers = {"X-Request-ID": "problem-1"}
    for response in [
        await client.get("/nowhere", headers=headers),  # 404, no route
        await client.get(f"/users/{_UNKNOWN_ID}", headers=headers),  # 404, no user
        await client.put("/users", headers=headers),  # 405
        await client.post("/users", json={"username": "x"}, headers=headers),  # 422
    ]:
        assert response.status_code >= 400
        assert response.headers["x-request-id"] == "problem-1"


async def test_a_body_over_the_limit_is_a_413_with_the_request_id(client: httpx.AsyncClient) -> None:
    declared = await client.post(
        "/users",
        content=b"x" * (MAX_BODY_BYTES + 1),
        headers={"X-Request-ID": "big-1", "content-type": "application/json"},
    )
    assert_problem(declared, 413)
    assert declared.headers["x-request-id"] == "big-1"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused while reading
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    streamed = await client.post(
        "/users", content=chunks(), headers={"X-Request-ID": "big-2", "content-type": "application/json"}
    )
    assert_problem(streamed, 413)
    assert streamed.headers["x-request-id"] == "big-2"


@pytest.mark.memory
async def test_a_500_carries_the_request_id_and_its_log_line_too(
    crashing_client: httpx.AsyncClient, logs: CapturedLogs
) -> None:
    response = await crashing_client.post(
        "/users", json={"username": "crash", "email": "crash@example.com"}, headers={"X-Request-ID": "crash-1"}
    )
    assert_problem(response, 500)
    assert response.headers["x-request-id"] == "crash-1"

    [error] = [line for line in logs.lines() if line["level"] == "error"]
    assert error["request_id"] == "crash-1"
    assert error["logger"] == "entrypoints.http.problems"
    assert error["message"] == "unhandled error on POST /users"
    assert "Traceback" in error["exception"]
    assert "RuntimeError: boom" in error["exception"]
    [access] = logs.access()
    assert (access["route"], access["status"], access["request_id"]) == ("/users", 500, "crash-1")


async def test_the_request_id_does_not_outlive_its_request(client: httpx.AsyncClient) -> None:
    await client.get("/healthz", headers={"X-Request-ID": "scoped"})
    assert current_request_id.get() is None


# --- access log ------------------------------------------------------------------------------------------------


async def test_one_access_line_per_request_with_the_route_template(
    client: httpx.AsyncClient, logs: CapturedLogs
) -> None:
    created = await client.post("/users", json={"username": "carol", "email": "carol@example.com"})
    user_path = created.headers["location"]
    fetched = await client.get(user_path)
    missing = await client.get("/no/such/path")
    lines = logs.access()

    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("POST", "/users", 201),
        ("GET", "/users/{user_id}", 200),
        ("GET", "<unmatched>", 404),
    ]
    for line, response in zip(lines, [created, fetched, missing], strict=True):
        assert line["request_id"] == response.headers["x-request-id"]
        assert line["level"] == "info"
        assert isinstance(line["duration_ms"], float)
        assert line["duration_ms"] >= 0
        assert line["message"] == f"{line['method']} {line['route']} {line['status']} {line['duration_ms']:.2f}ms"
    user_id = user_path.rsplit("/", 1)[-1]
    assert user_id not in logs.output.getvalue()  # the template, never the raw path
    assert "/no/such/path" not in logs.output.getvalue()


async def test_an_unknown_method_is_logged_as_other(client: httpx.AsyncClient, logs: CapturedLogs) -> None:
    response = await client.request("BREW", "/users")
    assert_problem(response, 405)
    [line] = logs.access()
    assert (line["method"], line["route"]) == ("OTHER", "/users")


async def test_every_line_is_one_json_object_with_the_standard_fields(
    client: httpx.AsyncClient, logs: CapturedLogs
) -> None:
    await client.get("/users", params={"limit": 2})
    await client.get("/readyz")
    lines = logs.lines()
    assert lines
    for line in lines:
        assert {"timestamp", "level", "logger", "message"} <= line.keys()
        assert _RFC3339_UTC.fullmatch(line["timestamp"])
    assert all("request_id" in line for line in logs.access())


# --- personal data ---------------------------------------------------------------------------------------------

_EMAILS = ("pii.alice@example.com", "pii.changed@example.org", "pii.bob@example.net")
_NAMES = ("Alice Pleasance Liddell", "Alice Renamed Hargreaves", "Robert Personal")


def _leaks(text: str) -> list[str]:
    lowered = text.lower()
    return [secret for secret in (*_EMAILS, *_NAMES) if secret.lower() in lowered]


async def test_no_email_or_full_name_is_ever_logged(client: httpx.AsyncClient, logs: CapturedLogs) -> None:
    # As with DB_ECHO=true: SQLAlchemy logs every statement at INFO (its bound parameters must stay hidden).
    sql_logger = logging.getLogger("sqlalchemy.engine")
    sql_level = sql_logger.level
    sql_logger.setLevel(logging.INFO)
    try:
        alice = await client.post("/users", json={"username": "alice", "email": _EMAILS[0], "full_name": _NAMES[0]})
        assert alice.status_code == 201
        bob = await client.post("/users", json={"username": "bob", "email": _EMAILS[2], "full_name": _NAMES[2]})
        assert bob.status_code == 201
        taken = await client.post("/users", json={"username": "alice2", "email": _EMAILS[0].upper()})
        assert taken.status_code == 409
        invalid = await client.post("/users", json={"username": "eve", "email": "eve@", "full_name": _NAMES[1]})
        assert invalid.status_code == 422
        found = await client.get("/users", params={"email": _EMAILS[0].upper()})
        assert [user["email"] for user in found.json()["items"]] == [_EMAILS[0]]
        patched = await client.patch(
            alice.headers["location"],
            json={"email": _EMAILS[1], "full_name": _NAMES[1]},
            headers={"content-type": "application/merge-patch+json", "If-Match": alice.headers["etag"]},
        )
        assert patched.status_code == 200
        clash = await client.patch(bob.headers["location"], json={"email": _EMAILS[1]})
        assert clash.status_code == 409
        assert (await client.get("/users", params={"email": _EMAILS[1], "username": "alice"})).status_code == 200
        assert (await client.delete(bob.headers["location"])).status_code == 204
    finally:
        sql_logger.setLevel(sql_level)

    assert len(logs.access()) == 9
    informative = [record for record in logs.records if record.levelno >= logging.INFO]
    assert informative
    for record in informative:
        attributes: dict[str, Any] = vars(record)
        assert not _leaks(record.getMessage()), record.getMessage()
        assert not _leaks(repr(attributes)), attributes
    assert not _leaks(logs.output.getvalue())
