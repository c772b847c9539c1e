"""Hostile input: whatever a client sends, the answer is a 4xx problem+json (or the right success), never a
500, and never a 503 from a database that refused what the service should have refused first.

Tests whose input reaches storage run on memory and PostgreSQL; those refused before (bodies, headers,
parameters) on memory only.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.backends import on_backends
from tests.http.problems import assert_problem, field_errors
from tests.look_alikes import fullwidth

_UNKNOWN_ID = "01a20000-0000-7000-8000-000000000000"
_JSON = {"content-type": "application/json"}


async def _create(client: httpx.AsyncClient, username: str = "alice", **fields: Any) -> dict[str, Any]:
    response = await client.post("/users", json={"username": username, "email": f"{username}@example.com", **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _body_error(response: httpx.Response) -> str:
    body = assert_problem(response, 422)
    [error] = body["errors"]
    assert error["field"] == "body"
    message: str = error["message"]
    return message


# --- bodies that are no JSON the service can read ----------------------------------------------------------


@on_backends("memory")
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xff", id="invalid-byte"),
        pytest.param(b'{"username": "\xc0\xaflice", "email": "a@example.com"}', id="overlong-encoding"),
        pytest.param(b'{"username": "alice", "full_name": "\xe2\x82"}', id="truncated-sequence"),
        pytest.param('{"username": "zoë", "email": "zoe@example.com"}'.encode("latin-1"), id="latin-1"),
    ],
)
async def test_a_body_that_is_not_utf8_is_a_validation_problem(client: httpx.AsyncClient, payload: bytes) -> None:
    # Regression: these were a 400 "There was an error parsing the body", undocumented and unlike the 422
    # of every other unreadable body.
    assert _body_error(await client.post("/users", content=payload, headers=_JSON)) == "is not valid JSON (not UTF-8)"
    assert (await client.get("/users")).json()["items"] == []


@on_backends("memory")
async def test_a_patch_that_is_not_utf8_is_a_validation_problem(client: httpx.AsyncClient) -> None:
    user = await _create(client)
    response = await client.patch(f"/users/{user['id']}", content=b'{"full_name": "\xff"}', headers=_JSON)
    assert _body_error(response) == "is not valid JSON (not UTF-8)"
    assert (await client.get(f"/users/{user['id']}")).json() == user


@on_backends("memory")
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"[" * 100_000, id="100k-open-brackets"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100k-closed-brackets"),
        pytest.param(b'{"a": ' * 100_000, id="100k-objects"),
        pytest.param(b'{"username": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="100k-in-a-field"),
    ],
)
async def test_deeply_nested_json_is_a_validation_problem(client: httpx.AsyncClient, payload: bytes) -> None:
    # Regression: Python's JSON reader gives up with a RecursionError, which became a bare 400.
    response = await client.post("/users", content=payload, headers=_JSON)
    assert _body_error(response) == "cannot be read as JSON (nested too deeply)"


@on_backends("memory")
async def test_nesting_the_reader_can_follow_is_refused_by_the_field_rules(client: httpx.AsyncClient) -> None:
    nested = b"[" * 500 + b'"alice"' + b"]" * 500
    response = await client.post(
        "/users", content=b'{"username": ' + nested + b', "email": "a@example.com"}', headers=_JSON
    )
    assert field_errors(response) == {"username"}


@on_backends("memory")
async def test_a_number_too_long_to_read_is_a_validation_problem(client: httpx.AsyncClient) -> None:
    # Regression: Python refuses to convert integers of more than 4300 digits (ValueError), which was a 400.
    payload = b'{"username": "alice", "email": "a@example.com", "is_active": ' + b"9" * 5000 + b"}"
    message = _body_error(await client.post("/users", content=payload, headers=_JSON))
    assert message == "cannot be read as JSON (a number has too many digits)"
    assert "set_int_max_str_digits" not in message


# --- look-alike usernames ------------------------------------------------------------------------------------


_LOOK_ALIKES_OF_ALICE = [
    pytest.param(fullwidth("alice"), id="fullwidth"),
    pytest.param("\u0430lice", id="cyrillic-a"),
    pytest.param("\u0391lice", id="greek-capital-alpha"),
    pytest.param("al\u0131ce", id="dotless-i"),
    pytest.param("ali\u0441e", id="cyrillic-es"),
    pytest.param("\U0001d41alice", id="math-bold-a"),
    pytest.param("ali\u200bce", id="zero-width-space"),
    pytest.param("ali\u0301ce", id="combining-accent"),
    pytest.param("alice\u00b2", id="superscript-two"),
    pytest.param("\u212aate", id="kelvin-sign"),
]


@on_backends("memory", "postgres")
@pytest.mark.parametrize("look_alike", _LOOK_ALIKES_OF_ALICE)
async def test_a_look_alike_username_is_refused_saying_ascii(client: httpx.AsyncClient, look_alike: str) -> None:
    alice = await _create(client, "alice")
    kate = await _create(client, "kate")

    response = await client.post("/users", json={"username": look_alike, "email": "mallory@example.com"})

    [error] = assert_problem(response, 422)["errors"]
    assert error["field"] == "username"
    assert "ASCII letters" in error["message"]
    renamed = await client.patch(f"/users/{kate['id']}", json={"username": look_alike})
    assert field_errors(renamed) == {"username"}
    assert [user["username"] for user in (await client.get("/users")).json()["items"]] == [alice["username"], "kate"]
