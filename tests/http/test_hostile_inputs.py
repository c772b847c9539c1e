"""Hostile input: whatever a client sends, the answer is a 4xx problem+json (or the right success), never a
500, and never a 503 from a database that refused what the service should have refused first.

Tests whose input reaches storage run on memory and PostgreSQL; those refused before (bodies, headers,
parameters) on memory only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from starlette.types import Message

from entrypoints.http.app import MAX_BODY_BYTES
from entrypoints.http.cursors import encode_cursor
from tests.backends import Backend, on_backends
from tests.http.asgi_calls import call_app
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


async def _asgi(
    app: FastAPI, method: str, path: str, headers: dict[str, str], chunks: Sequence[bytes]
) -> tuple[httpx.Response, int]:
    """Call the app as a server would, with exactly these headers and body chunks (no Content-Length or
    Transfer-Encoding added): the answer, and how many chunks the app read."""
    read = 0

    async def receive() -> Message:
        nonlocal read
        if read == len(chunks):
            return {"type": "http.disconnect"}
        read += 1
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    return await call_app(app, method, path, headers, receive), read


# --- bodies over the limit -----------------------------------------------------------------------------------


_CHUNK = 65536
_OVER_THE_LIMIT = [b"x" * _CHUNK] * (2 * MAX_BODY_BYTES // _CHUNK)  # 2 MiB
_CHUNKS_TO_PASS_THE_LIMIT = MAX_BODY_BYTES // _CHUNK + 1


@on_backends("memory")
async def test_a_body_declared_over_the_limit_is_refused_before_a_byte_is_read(
    app: FastAPI, client: httpx.AsyncClient, auth_headers: dict[str, str]
) -> None:
    headers = {**auth_headers, "content-type": "application/json", "content-length": str(2 * MAX_BODY_BYTES)}

    response, read = await _asgi(app, "POST", "/users", headers, _OVER_THE_LIMIT)

    assert_problem(response, 413)
    assert read == 0
    assert (await client.get("/users")).json()["items"] == []


@on_backends("memory")
@pytest.mark.parametrize(
    "declared", [pytest.param({}, id="no-content-length"), pytest.param({"content-length": "100"}, id="understated")]
)
async def test_a_body_over_the_limit_is_refused_as_it_arrives(
    app: FastAPI, client: httpx.AsyncClient, auth_headers: dict[str, str], declared: dict[str, str]
) -> None:
    user = await _create(client)
    headers = {**auth_headers, "content-type": "application/json", **declared}

    created, read_for_create = await _asgi(app, "POST", "/users", headers, _OVER_THE_LIMIT)
    changed, read_for_change = await _asgi(app, "PATCH", f"/users/{user['id']}", headers, _OVER_THE_LIMIT)

    assert_problem(created, 413)
    assert_problem(changed, 413)
    assert read_for_create == read_for_change == _CHUNKS_TO_PASS_THE_LIMIT  # not a chunk more
    assert (await client.get("/users")).json()["items"] == [user]


@on_backends("memory")
async def test_a_chunked_patch_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    user = await _create(client)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"full_name": "'
        for chunk in _OVER_THE_LIMIT:
            yield chunk
        yield b'"}'

    response = await client.patch(f"/users/{user['id']}", content=chunks(), headers=_JSON)

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413)
    assert (await client.get(f"/users/{user['id']}")).json() == user


@on_backends("memory")
async def test_a_body_of_exactly_the_limit_is_read(client: httpx.AsyncClient) -> None:
    envelope = b'{"username": "alice", "email": "alice@example.com", "full_name": ""}'
    at_the_limit = envelope[:-2] + b"x" * (MAX_BODY_BYTES - len(envelope)) + b'"}'
    assert len(at_the_limit) == MAX_BODY_BYTES

    assert field_errors(await client.post("/users", content=at_the_limit, headers=_JSON)) == {"full_name"}
    assert_problem(await client.post("/users", content=at_the_limit + b" ", headers=_JSON), 413)


# --- huge headers --------------------------------------------------------------------------------------------


_MEBIBYTE_OF_TAGS = ", ".join(f'"{n}"' for n in range(2, 150_000))  # about 1 MiB, none of them current


@on_backends("memory")
async def test_huge_headers_are_answered_like_small_ones(
    app: FastAPI, client: httpx.AsyncClient, auth_headers: dict[str, str]
) -> None:
    # The server limits header sizes (entrypoints/http_protocol.py); the app itself must cope with any.
    user = await _create(client)
    path = f"/users/{user['id']}"

    stale = await client.patch(path, json={"full_name": "x"}, headers={"If-Match": _MEBIBYTE_OF_TAGS})
    fresh = await client.get(path, headers={"If-None-Match": _MEBIBYTE_OF_TAGS})
    renamed_id = await client.get(path, headers={"X-Request-ID": "r" * MAX_BODY_BYTES})
    # Straight to the app: httpx itself takes seconds to send ten thousand headers.
    padded, _ = await _asgi(
        app, "GET", path, {**auth_headers, **{f"X-Padding-{n}": "p" * 100 for n in range(10_000)}}, [b""]
    )

    assert_problem(stale, 412)
    assert fresh.status_code == 200
    assert fresh.json() == user
    assert renamed_id.status_code == 200
    assert len(renamed_id.headers["x-request-id"]) == 32  # a generated one: the huge one is not echoed
    assert padded.status_code == 200
    assert padded.json() == user


@on_backends("memory")
async def test_control_characters_in_a_tag_are_a_422_and_write_nothing(client: httpx.AsyncClient) -> None:
    user = await _create(client)

    response = await client.patch(f"/users/{user['id']}", json={"full_name": "x"}, headers={"If-Match": '"1\x00"'})

    assert_problem(response, 422)
    assert (await client.get(f"/users/{user['id']}")).json() == user


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


# --- NUL and lone surrogates in any string field -------------------------------------------------------------


_STRING_FIELDS = ["username", "email", "full_name"]
_VALID = {"username": "alice", "email": "alice@example.com", "full_name": "Alice Liddell"}


@on_backends("memory", "postgres")
@pytest.mark.parametrize("field", _STRING_FIELDS)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
async def test_a_nul_in_any_string_field_is_refused(client: httpx.AsyncClient, field: str, where: str) -> None:
    # PostgreSQL refuses NUL in text (SQLSTATE 22021): it must never get that far.
    value = {"start": "\x00" + _VALID[field], "middle": "al\x00" + _VALID[field], "end": _VALID[field] + "\x00"}[where]
    user = await _create(client, "bob", full_name="Bob")

    created = await client.post("/users", json={**_VALID, field: value})
    changed = await client.patch(f"/users/{user['id']}", json={field: value})

    assert field_errors(created) == {field}
    assert field_errors(changed) == {field}
    assert (await client.get("/users")).json()["items"] == [user]


@on_backends("memory", "postgres")
@pytest.mark.parametrize("field", _STRING_FIELDS)
@pytest.mark.parametrize(
    "surrogate", [pytest.param(b"\\ud800", id="escaped"), pytest.param(b"\xed\xa0\x80", id="encoded")]
)
async def test_a_lone_surrogate_in_any_string_field_is_refused(
    client: httpx.AsyncClient, field: str, surrogate: bytes
) -> None:
    # Python's JSON reader lets a lone surrogate through, escaped or encoded; no UTF-8 database can store one.
    body = {**_VALID, field: "SURROGATE" + _VALID[field]}
    payload = json.dumps(body).encode().replace(b"SURROGATE", surrogate)

    assert field_errors(await client.post("/users", content=payload, headers=_JSON)) == {field}
    assert (await client.get("/users")).json()["items"] == []


@on_backends("memory", "postgres")
@pytest.mark.parametrize("filter_name", ["username", "email"])
async def test_a_nul_in_a_filter_finds_nobody(client: httpx.AsyncClient, filter_name: str) -> None:
    # No user can have such a name or address, so the answer is an empty page, not an error.
    await _create(client)

    response = await client.get("/users", params={filter_name: _VALID[filter_name] + "\x00"})

    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


# --- emails in Unicode ---------------------------------------------------------------------------------------


@on_backends("memory", "postgres")
@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param("ALICE@EXAMPLE.COM", id="capitals"),
        pytest.param(f"alice@{fullwidth('example')}.com", id="fullwidth-domain"),
        pytest.param("alice@EXAMPLE.com", id="capital-domain"),
    ],
)
async def test_spellings_of_one_address_are_one_address(client: httpx.AsyncClient, spelling: str) -> None:
    alice = await _create(client)

    taken = await client.post("/users", json={"username": "mallory", "email": spelling})
    found = await client.get("/users", params={"email": spelling})

    assert assert_problem(taken, 409)["type"].endswith("email-taken")
    assert found.json()["items"] == [alice]


@on_backends("memory", "postgres")
@pytest.mark.parametrize(
    ("given", "stored"),
    [
        pytest.param("Zoe\u0308@Example.com", "zoë@example.com", id="decomposed-to-composed"),
        pytest.param("ÜNICODE@Bücher.de", "ünicode@bücher.de", id="lower-cased"),
        pytest.param("a@xn--bcher-kva.de", "a@bücher.de", id="idna-to-unicode"),
        pytest.param("用户@例子.广告", "用户@例子.广告", id="cjk"),
    ],
)
async def test_an_international_address_is_stored_normalised(
    client: httpx.AsyncClient, given: str, stored: str
) -> None:
    created = await client.post("/users", json={"username": "zoe", "email": given})
    again = await client.post("/users", json={"username": "zoe2", "email": stored})

    assert created.status_code == 201, created.text
    assert created.json()["email"] == stored
    assert assert_problem(again, 409)["type"].endswith("email-taken")


@on_backends("memory", "postgres")
@pytest.mark.parametrize(
    "look_alike",
    [
        pytest.param("\u0430lice@example.com", id="cyrillic-a"),
        pytest.param(f"{fullwidth('a')}lice@example.com", id="fullwidth-a"),
    ],
)
async def test_a_look_alike_address_is_another_address(client: httpx.AsyncClient, look_alike: str) -> None:
    # Unlike a username, an address is not the service's to police: another mailbox is another user.
    await _create(client)

    response = await client.post("/users", json={"username": "mallory", "email": look_alike})

    assert response.status_code == 201, response.text
    assert response.json()["email"] == look_alike


@on_backends("memory")
@pytest.mark.parametrize(
    "email",
    [
        pytest.param("alice\u202e@example.com", id="right-to-left-override"),
        pytest.param("alice@exam\u200bple.com", id="zero-width-space-in-domain"),
        pytest.param("al ice@example.com", id="space"),
    ],
)
async def test_an_address_with_invisible_or_unsafe_characters_is_refused(client: httpx.AsyncClient, email: str) -> None:
    assert field_errors(await client.post("/users", json={"username": "alice", "email": email})) == {"email"}


# --- SQL and HTML ----------------------------------------------------------------------------------------------


_PAYLOADS = [
    "<script>alert(1)</script>",
    "'; DROP TABLE users; --",
    "Robert'); DROP TABLE users;--",
    '" OR ""="',
    "<img src=x onerror=alert(1)>",
    "&lt;b&gt; &amp; &#x27;",
    "%s %(name)s $1 ? :name",
    "{{7*7}} ${jndi:ldap://x}",
    '\\ " \\u0000 /*',
]


@on_backends("memory", "postgres")
async def test_sql_and_html_are_stored_literally_and_served_as_json_strings(client: httpx.AsyncClient) -> None:
    created = []
    for n, payload in enumerate(_PAYLOADS):
        response = await client.post(
            "/users", json={"username": f"user{n}", "email": f"user{n}@example.com", "full_name": payload}
        )
        assert response.status_code == 201, response.text
        assert response.headers["content-type"] == "application/json"
        # The value travels as one JSON string, quotes and backslashes escaped, HTML untouched.
        assert f'"full_name":{json.dumps(payload, ensure_ascii=False)}' in response.text
        created.append(response.json())

    for user, payload in zip(created, _PAYLOADS, strict=True):
        assert (await client.get(f"/users/{user['id']}")).json()["full_name"] == payload
        changed = await client.patch(f"/users/{user['id']}", json={"full_name": payload[::-1]})
        assert changed.json()["full_name"] == payload[::-1]
    listed = (await client.get("/users")).json()["items"]
    assert [user["full_name"] for user in listed] == [payload[::-1] for payload in _PAYLOADS]


@on_backends("postgres")
async def test_the_users_table_survives_sql_payloads(client: httpx.AsyncClient, backend: Backend) -> None:
    for n, payload in enumerate(_PAYLOADS[:3]):
        await _create(client, f"user{n}", full_name=payload)
    await client.get("/users", params={"username": "alice'; DROP TABLE users; --"})

    assert backend.database is not None
    async with backend.database.connection() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM users"))).scalar_one()
    assert count == 3


@on_backends("memory", "postgres")
@pytest.mark.parametrize(
    ("filter_name", "value"),
    [
        ("username", "alice' OR '1'='1"),
        ("username", "alice'--"),
        ("email", "x'OR'1'='1@example.com"),
        ("email", "alice@example.com' OR '1'='1"),
    ],
)
async def test_sql_in_a_filter_matches_nobody(client: httpx.AsyncClient, filter_name: str, value: str) -> None:
    await _create(client, "alice")
    await _create(client, "bob")

    response = await client.get("/users", params={filter_name: value})

    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


@on_backends("memory", "postgres")
async def test_a_quote_in_an_address_is_just_a_character(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", json={"username": "obrien", "email": "O'Brien@example.com"})
    assert response.status_code == 201, response.text
    found = await client.get("/users", params={"email": "o'brien@example.com"})
    assert found.json()["items"] == [response.json()]


# --- limit, cursor and id ------------------------------------------------------------------------------------


@on_backends("memory")
@pytest.mark.parametrize(
    "limit",
    [
        "-1",
        "0",
        "101",
        str(2**63),
        str(10**100),
        "1.5",
        "1e3",
        "",
        " ",
        "0x10",
        fullwidth("5"),
        "\u0663",
        "NaN",
        "Infinity",
        "true",
        "\x00",
    ],
)
async def test_a_limit_that_is_no_integer_from_1_to_100_is_refused(client: httpx.AsyncClient, limit: str) -> None:
    body = assert_problem(await client.get("/users", params={"limit": limit}), 422)
    assert [error["field"] for error in body["errors"]] == ["limit"]


@on_backends("memory")
@pytest.mark.parametrize("query", ["emial=alice%40example.com", "=0.5", "limit=5&Limit=6", "is_active=true&x"])
async def test_a_list_parameter_it_does_not_know_is_refused_not_ignored(client: httpx.AsyncClient, query: str) -> None:
    await _create(client, "alice")
    body = assert_problem(await client.get(f"/users?{query}"), 422)
    known = {"limit", "cursor", "is_active", "username", "email"}
    assert body["errors"]
    assert all(error["field"] not in known for error in body["errors"])


@on_backends("memory")
async def test_every_list_parameter_at_fault_is_named_in_one_answer(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/users?limit=0&emial=x&is_active=maybe&username=a&username=b"), 422)
    assert sorted(error["field"] for error in body["errors"]) == ["emial", "is_active", "limit", "username"]


@on_backends("memory")
async def test_a_cursor_the_service_did_not_issue_is_refused(client: httpx.AsyncClient) -> None:
    for n in range(3):
        await _create(client, f"user{n}")
    issued = (await client.get("/users", params={"limit": 1})).json()["next_cursor"]
    forged = [
        "",
        "A",
        issued[:-1],
        issued + "A",
        issued + "==",
        issued[:-1] + "B",  # another spelling of the same bits
        issued.replace("-", "+").replace("_", "/") if "-" in issued or "_" in issued else "+" * 22,
        "\x00" * 22,
        fullwidth("A") * 22,
        "A" * 10_000,
        "' OR 1=1 --",
    ]

    for cursor in forged:
        response = await client.get("/users", params={"cursor": cursor})
        body = assert_problem(response, 422)
        assert [error["field"] for error in body["errors"]] == ["cursor"], cursor


@on_backends("memory")
async def test_a_well_formed_cursor_made_from_any_id_pages_after_that_id(client: httpx.AsyncClient) -> None:
    # Cursors are not secrets: one made up by a client is just a place to start, like a real one.
    users = [await _create(client, f"user{n}") for n in range(2)]

    from_the_start = await client.get("/users", params={"cursor": encode_cursor(UUID(int=0))})
    past_the_end = await client.get("/users", params={"cursor": encode_cursor(UUID(int=2**128 - 1))})

    assert from_the_start.json()["items"] == users
    assert past_the_end.json() == {"items": [], "next_cursor": None}


@on_backends("memory")
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    "user_id",
    [
        "not-a-uuid",
        "' OR 1=1 --",
        "<img src=x onerror=alert(1)>",
        "%00",
        "%F0%9F%92%A9",
        _UNKNOWN_ID[:-1] + fullwidth("1"),
        _UNKNOWN_ID + "0",
        "a" * 10_000,
    ],
)
async def test_an_id_that_is_no_uuid_is_refused(client: httpx.AsyncClient, method: str, user_id: str) -> None:
    response = await client.request(method, f"/users/{user_id}", json={"full_name": "x"} if method == "PATCH" else None)
    assert field_errors(response) == {"user_id"}


@on_backends("memory")
async def test_an_id_in_capitals_names_the_same_user(client: httpx.AsyncClient) -> None:
    user = await _create(client)
    assert (await client.get(f"/users/{user['id'].upper()}")).json() == user


@on_backends("memory")
@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("limit=1&limit=100", ["limit"]),
        ("username=a&username=b&email=x%40example.com&email=y%40example.com", ["email", "username"]),
        ("is_active=true&is_active=false", ["is_active"]),
    ],
)
async def test_a_list_parameter_given_twice_is_refused_naming_it(
    client: httpx.AsyncClient, query: str, fields: list[str]
) -> None:
    body = assert_problem(await client.get(f"/users?{query}"), 422)
    assert [error["field"] for error in body["errors"]] == fields
    assert all(error["message"] == "is given more than once" for error in body["errors"])
