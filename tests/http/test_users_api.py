"""The REST contract of /users, through the real app, on every backend."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from tests.http.problems import assert_problem, field_errors


async def _create(client: httpx.AsyncClient, username: str = "alice", **fields: Any) -> dict[str, Any]:
    body = {"username": username, "email": f"{username}@example.com", **fields}
    response = await client.post("/users", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# --- POST /users ---------------------------------------------------------------------------------------


async def test_create_returns_the_user_with_location_and_etag(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/users", json={"username": "Alice", "email": "Alice@Example.COM", "full_name": "Alice Liddell"}
    )

    assert response.status_code == 201
    user = response.json()
    assert set(user) == {"id", "username", "email", "full_name", "is_active", "created_at", "updated_at", "version"}
    assert UUID(user["id"]).version == 7
    assert user["username"] == "Alice"
    assert user["email"] == "alice@example.com"
    assert user["full_name"] == "Alice Liddell"
    assert user["is_active"] is True
    assert user["version"] == 1
    created = datetime.fromisoformat(user["created_at"])
    assert created.utcoffset() is not None
    assert user["updated_at"] == user["created_at"]
    assert response.headers["location"] == f"/users/{user['id']}"
    assert response.headers["etag"] == '"1"'


async def test_create_can_start_inactive(client: httpx.AsyncClient) -> None:
    user = await _create(client, is_active=False)
    assert user["is_active"] is False
    assert user["full_name"] is None


@pytest.mark.parametrize("other", ["alice", "ALICE", "aLiCe"])
async def test_a_taken_username_in_any_case_is_a_conflict(client: httpx.AsyncClient, other: str) -> None:
    await _create(client, "Alice")

    response = await client.post("/users", json={"username": other, "email": "someone@example.com"})

    body = assert_problem(response, 409)
    assert body["type"].endswith("username-taken")


async def test_a_taken_email_in_any_case_is_a_conflict(client: httpx.AsyncClient) -> None:
    await _create(client, "bob")

    response = await client.post("/users", json={"username": "robert", "email": "BOB@example.com"})

    body = assert_problem(response, 409)
    assert body["type"].endswith("email-taken")


@pytest.mark.parametrize("field", ["id", "version", "created_at", "password"])
async def test_unknown_or_read_only_fields_are_refused(client: httpx.AsyncClient, field: str) -> None:
    response = await client.post("/users", json={"username": "carol", "email": "carol@example.com", field: 1})
    assert field_errors(response) == {field}


async def test_every_broken_rule_is_listed(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", json={"username": "_x", "email": "not-an-address", "full_name": "x" * 201})
    assert field_errors(response) == {"username", "email", "full_name"}


async def test_missing_fields_are_listed(client: httpx.AsyncClient) -> None:
    assert field_errors(await client.post("/users", json={})) == {"username", "email"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("is_active", "yes"),
        ("is_active", 1),
        ("username", 123),
        ("email", None),
        ("full_name", 42),
    ],
)
async def test_wrong_types_are_refused(client: httpx.AsyncClient, field: str, value: object) -> None:
    body = {"username": "dave", "email": "dave@example.com", field: value}
    assert field_errors(await client.post("/users", json=body)) == {field}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("full_name", "nul\x00byte"),
        ("username", "nul\x00byte"),
        ("email", "nul\x00@example.com"),
        ("username", "\u0430lice"),  # a Cyrillic a, look-alike of "alice"
    ],
)
async def test_hostile_strings_are_refused_not_crashing(client: httpx.AsyncClient, field: str, value: str) -> None:
    body = {"username": "erin", "email": "erin@example.com", field: value}
    assert field_errors(await client.post("/users", json=body)) == {field}


@pytest.mark.parametrize("payload", [b"{bad json", b"", b"[1, 2]", b'"alice"', b"\xc3\x28"])
async def test_a_body_that_is_no_json_object_is_a_validation_problem(client: httpx.AsyncClient, payload: bytes) -> None:
    response = await client.post("/users", content=payload, headers={"content-type": "application/json"})
    assert_problem(response, 422)


async def test_a_body_over_one_mebibyte_is_refused(client: httpx.AsyncClient) -> None:
    big = {"username": "frank", "email": "frank@example.com", "full_name": "x" * (1024 * 1024)}
    assert_problem(await client.post("/users", json=big), 413)


async def test_a_streamed_body_over_one_mebibyte_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> Any:
        yield b'{"username": "frank", "email": "frank@example.com", "full_name": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    response = await client.post("/users", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


async def test_sql_and_html_are_stored_literally(client: httpx.AsyncClient) -> None:
    hostile = "Robert'); DROP TABLE users;-- <script>alert(1)</script>"
    user = await _create(client, "bobby", full_name=hostile)

    fetched = (await client.get(f"/users/{user['id']}")).json()
    assert fetched["full_name"] == hostile
    assert (await client.get("/users")).json()["items"] == [fetched]


# --- GET /users/{id} -----------------------------------------------------------------------------------


async def test_get_returns_the_user_and_its_etag(client: httpx.AsyncClient) -> None:
    user = await _create(client)

    response = await client.get(f"/users/{user['id']}")

    assert response.status_code == 200
    assert response.json() == user
    assert response.headers["etag"] == '"1"'


@pytest.mark.parametrize("tag", ['"1"', 'W/"1"', '"7", "1"', "*"])
async def test_get_with_the_current_etag_is_not_modified(client: httpx.AsyncClient, tag: str) -> None:
    user = await _create(client)

    response = await client.get(f"/users/{user['id']}", headers={"If-None-Match": tag})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == '"1"'


async def test_get_with_an_old_etag_returns_the_user(client: httpx.AsyncClient) -> None:
    user = await _create(client)
    await client.patch(f"/users/{user['id']}", json={"full_name": "new"})

    response = await client.get(f"/users/{user['id']}", headers={"If-None-Match": '"1"'})

    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'


async def test_get_of_an_unknown_user_is_not_found(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/users/01a20000-0000-7000-8000-000000000000"), 404)
    assert body["type"].endswith("user-not-found")


@pytest.mark.parametrize("bad_id", ["abc", "1", "01a20000-0000-7000-8000-00000000000g", "%00"])
async def test_get_with_an_id_that_is_no_uuid_is_refused(client: httpx.AsyncClient, bad_id: str) -> None:
    assert field_errors(await client.get(f"/users/{bad_id}")) == {"user_id"}


# --- GET /users ----------------------------------------------------------------------------------------


async def test_list_walks_every_user_once_in_creation_order(client: httpx.AsyncClient) -> None:
    created = [await _create(client, f"user{n}") for n in range(5)]

    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/users", params=params)
        assert response.status_code == 200
        page = response.json()
        seen.extend(page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == created
    assert pages == 3


async def test_list_walk_is_exact_while_users_are_being_created(client: httpx.AsyncClient) -> None:
    existing = [await _create(client, f"old{n}") for n in range(6)]

    seen: list[str] = []
    cursor = None
    for n in range(100):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/users", params=params)).json()
        seen.extend(user["id"] for user in page["items"])
        if n < 3:
            await _create(client, f"new{n}")
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == len(set(seen))
    assert {user["id"] for user in existing} <= set(seen)
    assert len(seen) == 9


async def test_list_has_a_default_page_size_of_50(client: httpx.AsyncClient) -> None:
    for n in range(51):
        await _create(client, f"user{n}")

    page = (await client.get("/users")).json()

    assert len(page["items"]) == 50
    assert page["next_cursor"] is not None


async def test_list_of_nothing_is_an_empty_last_page(client: httpx.AsyncClient) -> None:
    assert (await client.get("/users")).json() == {"items": [], "next_cursor": None}


async def test_list_filters(client: httpx.AsyncClient) -> None:
    kim = await _create(client, "Kim")
    await _create(client, "kimberly")
    leo = await _create(client, "leo", is_active=False)

    async def names(**params: Any) -> list[str]:
        response = await client.get("/users", params=params)
        assert response.status_code == 200, response.text
        return [user["username"] for user in response.json()["items"]]

    assert await names(username="KIM") == ["Kim"]
    assert await names(email="KIM@Example.com") == ["Kim"]
    assert await names(is_active="false") == ["leo"]
    assert await names(is_active="true", username="leo") == []
    assert await names(username="no such name!") == []
    assert await names(email="not an address") == []
    assert kim["id"] != leo["id"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": 10**30}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "AAAAAAAAAAAAAAAAAAAAAB"}, "cursor"),
        ({"cursor": ""}, "cursor"),
        ({"is_active": "maybe"}, "is_active"),
    ],
)
async def test_list_refuses_malformed_parameters(client: httpx.AsyncClient, params: dict[str, Any], field: str) -> None:
    assert field_errors(await client.get("/users", params=params)) == {field}


async def test_a_cursor_of_a_deleted_user_still_pages_on(client: httpx.AsyncClient) -> None:
    first, second, third = [await _create(client, f"user{n}") for n in range(3)]
    page = (await client.get("/users", params={"limit": 1})).json()
    await client.delete(f"/users/{first['id']}")

    rest = (await client.get("/users", params={"cursor": page["next_cursor"]})).json()

    assert [user["id"] for user in rest["items"]] == [second["id"], third["id"]]


# --- PATCH /users/{id} ---------------------------------------------------------------------------------


async def test_patch_merges_the_given_fields(client: httpx.AsyncClient) -> None:
    user = await _create(client, full_name="Old Name")

    response = await client.patch(f"/users/{user['id']}", json={"email": "NEW@example.com", "is_active": False})

    assert response.status_code == 200
    changed = response.json()
    assert changed["email"] == "new@example.com"
    assert changed["is_active"] is False
    assert changed["full_name"] == "Old Name"
    assert changed["username"] == user["username"]
    assert changed["version"] == 2
    assert changed["created_at"] == user["created_at"]
    assert changed["updated_at"] > user["updated_at"]
    assert response.headers["etag"] == '"2"'
    assert (await client.get(f"/users/{user['id']}")).json() == changed


async def test_patch_with_null_clears_the_full_name(client: httpx.AsyncClient) -> None:
    user = await _create(client, full_name="Someone")
    response = await client.patch(f"/users/{user['id']}", json={"full_name": None})
    assert response.json()["full_name"] is None


async def test_patch_accepts_the_merge_patch_media_type(client: httpx.AsyncClient) -> None:
    user = await _create(client)
    response = await client.patch(
        f"/users/{user['id']}",
        content=b'{"full_name": "Merged"}',
        headers={"content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 200
    assert response.json()["full_name"] == "Merged"


async def test_an_empty_patch_changes_nothing(client: httpx.AsyncClient) -> None:
    user = await _create(client)
    response = await client.patch(f"/users/{user['id']}", json={})
    assert response.status_code == 200
    assert response.json() == user


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"username": None}, "username"),
        ({"email": None}, "email"),
        ({"is_active": None}, "is_active"),
        ({"username": "x"}, "username"),
        ({"email": "nope"}, "email"),
        ({"full_name": "y" * 201}, "full_name"),
        ({"version": 9}, "version"),
        ({"id": "01a20000-0000-7000-8000-000000000000"}, "id"),
    ],
)
async def test_patch_validates_like_create(client: httpx.AsyncClient, patch: dict[str, Any], field: str) -> None:
    user = await _create(client)
    assert field_errors(await client.patch(f"/users/{user['id']}", json=patch)) == {field}
    assert (await client.get(f"/users/{user['id']}")).json() == user


async def test_patch_onto_a_taken_username_is_a_conflict(client: httpx.AsyncClient) -> None:
    await _create(client, "grace")
    heidi = await _create(client, "heidi")

    assert_problem(await client.patch(f"/users/{heidi['id']}", json={"username": "GRACE"}), 409)
    assert_problem(await client.patch(f"/users/{heidi['id']}", json={"email": "grace@example.com"}), 409)


async def test_patch_with_the_current_etag_succeeds(client: httpx.AsyncClient) -> None:
    user = await _create(client)
    response = await client.patch(f"/users/{user['id']}", json={"full_name": "A"}, headers={"If-Match": '"1"'})
    assert response.status_code == 200


@pytest.mark.parametrize("tag", ["2", 'W/"2"', "garbage"])
async def test_patch_with_a_malformed_if_match_is_a_422_that_shows_the_form(
    client: httpx.AsyncClient, tag: str
) -> None:
    user = await _create(client)
    await client.patch(f"/users/{user['id']}", json={"full_name": "first"})

    response = await client.patch(f"/users/{user['id']}", json={"full_name": "second"}, headers={"If-Match": tag})

    assert_problem(response, 422)
    (error,) = response.json()["errors"]
    assert error["field"] == "If-Match"
    assert '"3"' in error["message"]
    assert (await client.get(f"/users/{user['id']}")).json()["full_name"] == "first"


@pytest.mark.parametrize("tag", ['"1"', '"2x"'])
async def test_patch_with_a_stale_or_foreign_etag_fails_the_precondition(client: httpx.AsyncClient, tag: str) -> None:
    user = await _create(client)
    await client.patch(f"/users/{user['id']}", json={"full_name": "first"})

    response = await client.patch(f"/users/{user['id']}", json={"full_name": "second"}, headers={"If-Match": tag})

    assert_problem(response, 412)
    assert (await client.get(f"/users/{user['id']}")).json()["full_name"] == "first"


async def test_patch_of_an_unknown_user_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.patch("/users/01a20000-0000-7000-8000-000000000000", json={"full_name": "x"})
    assert_problem(response, 404)


async def test_concurrent_unconditional_patches_lose_no_update(client: httpx.AsyncClient) -> None:
    user = await _create(client)

    responses = await asyncio.gather(
        *(client.patch(f"/users/{user['id']}", json={"full_name": f"writer {n}"}) for n in range(5))
    )

    assert [response.status_code for response in responses] == [200] * 5
    assert sorted(response.json()["version"] for response in responses) == [2, 3, 4, 5, 6]
    assert (await client.get(f"/users/{user['id']}")).json()["version"] == 6


async def test_concurrent_patches_with_one_etag_have_one_winner(client: httpx.AsyncClient) -> None:
    user = await _create(client)

    responses = await asyncio.gather(
        *(
            client.patch(f"/users/{user['id']}", json={"full_name": f"writer {n}"}, headers={"If-Match": '"1"'})
            for n in range(2)
        )
    )

    assert sorted(response.status_code for response in responses) == [200, 412]


# --- DELETE /users/{id} --------------------------------------------------------------------------------


async def test_delete_removes_the_user(client: httpx.AsyncClient) -> None:
    user = await _create(client)

    response = await client.delete(f"/users/{user['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"/users/{user['id']}"), 404)
    assert_problem(await client.delete(f"/users/{user['id']}"), 404)


async def test_delete_honours_if_match(client: httpx.AsyncClient) -> None:
    user = await _create(client)

    assert_problem(await client.delete(f"/users/{user['id']}", headers={"If-Match": '"2"'}), 412)
    assert (await client.get(f"/users/{user['id']}")).status_code == 200
    assert (await client.delete(f"/users/{user['id']}", headers={"If-Match": '"1"'})).status_code == 204


# --- races ---------------------------------------------------------------------------------------------


async def test_twenty_parallel_creates_of_one_username_make_one_user(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(
            client.post("/users", json={"username": "Zed" if n % 2 else "zed", "email": f"zed{n}@example.com"})
            for n in range(20)
        )
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 19
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409)
    assert len((await client.get("/users", params={"username": "zed"})).json()["items"]) == 1


async def test_twenty_parallel_creates_of_one_email_make_one_user(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(client.post("/users", json={"username": f"u{n}x", "email": "Same@Example.com"}) for n in range(20))
    )
    assert sorted(response.status_code for response in responses) == [201] + [409] * 19


@pytest.mark.parametrize("tag", ['"01"', '"' + "1" * 5000 + '"'])
async def test_patch_with_a_tag_never_issued_fails_the_precondition(client: httpx.AsyncClient, tag: str) -> None:
    user = await _create(client)
    response = await client.patch(f"/users/{user['id']}", json={"full_name": "x"}, headers={"If-Match": tag})
    assert_problem(response, 412)
