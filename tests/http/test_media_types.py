"""Writes take JSON (POST) or a merge patch (PATCH) in UTF-8; any other body is a 415 naming what is accepted."""

from __future__ import annotations

import httpx
import pytest

from tests.http.problems import assert_problem

BODY = '{"username": "typed", "email": "typed@example.com"}'


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", None, "application/json; charset=utf-16"],
)
async def test_a_post_body_that_is_not_utf8_json_is_a_415_naming_json(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = await client.post("/users", content=BODY.encode(), headers=headers)

    assert_problem(response, 415)
    assert response.headers["accept-post"] == "application/json"
    assert "application/json" in response.json()["detail"]
    assert (await client.get("/users", params={"limit": 100})).json()["items"] == []


async def test_curls_default_form_body_is_told_what_to_add(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", data={"username": "formed", "email": "formed@example.com"})
    assert_problem(response, 415)
    assert "-H 'content-type: application/json'" in response.json()["detail"]


async def test_a_patch_takes_a_merge_patch_or_json_and_nothing_else(client: httpx.AsyncClient) -> None:
    created = (await client.post("/users", json={"username": "patchy", "email": "patchy@example.com"})).json()
    path = f"/users/{created['id']}"

    refused = await client.patch(path, content=b'{"full_name": "X"}', headers={"content-type": "text/plain"})
    assert_problem(refused, 415)
    assert refused.headers["accept-patch"] == "application/merge-patch+json, application/json"
    for content_type in ("application/merge-patch+json", "application/json; charset=UTF-8"):
        changed = await client.patch(path, content=b'{"full_name": "Y"}', headers={"content-type": content_type})
        assert changed.status_code == 200, changed.text


async def test_a_post_without_a_body_is_still_a_422(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/users"), 422)


@pytest.mark.parametrize(
    ("body", "member"),
    [
        ('{"username": "dupkey1", "username": "dupkey2", "email": "dup@example.com"}', "username"),
        ('{"username": "dupkey3", "email": "a@example.com", "full_name": "A", "full_name": "B"}', "full_name"),
    ],
)
async def test_a_body_that_repeats_a_member_is_a_422_naming_it(
    client: httpx.AsyncClient, body: str, member: str
) -> None:
    response = await client.post("/users", content=body.encode(), headers={"content-type": "application/json"})

    problem = assert_problem(response, 422)
    assert [error["field"] for error in problem["errors"]] == ["body"]
    assert f'"{member}"' in problem["errors"][0]["message"]
    assert (await client.get("/users", params={"limit": 100})).json()["items"] == []


@pytest.mark.parametrize(
    ("encoded", "found"),
    [
        pytest.param(BODY.encode("utf-16"), "UTF-16", id="utf-16-with-mark"),
        pytest.param(BODY.encode("utf-16-le"), "UTF-16", id="utf-16-le"),
        pytest.param(BODY.encode("utf-16-be"), "UTF-16", id="utf-16-be"),
        pytest.param(BODY.encode("utf-32"), "UTF-32", id="utf-32-with-mark"),
        pytest.param(BODY.encode("utf-32-be"), "UTF-32", id="utf-32-be"),
        pytest.param(BODY.encode("utf-8-sig"), "UTF-8 with a byte order mark", id="utf-8-with-mark"),
    ],
)
async def test_a_json_body_in_another_encoding_than_utf8_is_a_415_saying_what_to_fix(
    client: httpx.AsyncClient, encoded: bytes, found: str
) -> None:
    # Python's JSON reader takes these encodings; README promises UTF-8, so they were accepted by accident.
    response = await client.post("/users", content=encoded, headers={"content-type": "application/json"})

    problem = assert_problem(response, 415)
    assert problem["type"] == "urn:users-service:problem:unsupported-media-type"
    assert problem["detail"] == (
        f"This request body must be application/json in UTF-8 without a byte order mark (got {found});"
        " encode it as UTF-8."
    )
    assert (await client.get("/users", params={"limit": 100})).json()["items"] == []


async def test_a_merge_patch_in_utf16_is_a_415_and_changes_nothing(client: httpx.AsyncClient) -> None:
    created = (await client.post("/users", json={"username": "wide", "email": "wide@example.com"})).json()

    response = await client.patch(
        f"/users/{created['id']}",
        content='{"full_name": "Wide"}'.encode("utf-16"),
        headers={"content-type": "application/merge-patch+json"},
    )

    problem = assert_problem(response, 415)
    assert problem["detail"].startswith("This request body must be application/merge-patch+json in UTF-8")
    assert (await client.get(f"/users/{created['id']}")).json() == created
