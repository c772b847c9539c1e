"""Clients racing each other through the HTTP app, many rounds each, on every backend (PostgreSQL with real
parallel connections): no 500, no lost update, no duplicate row, no user half-deleted."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.http.problems import assert_problem

ROUNDS = 15


async def _create(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.post("/users", json={"username": name, "email": f"{name}@example.com"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_change_racing_a_delete_never_resurrects_or_half_keeps_the_user(client: httpx.AsyncClient) -> None:
    for round_number in range(ROUNDS):
        user = await _create(client, f"doomed{round_number}")
        path = f"/users/{user['id']}"
        change, removal = await asyncio.gather(
            client.patch(path, json={"full_name": "last words"}), client.delete(path)
        )

        assert removal.status_code == 204, removal.text
        assert change.status_code in {200, 404}, change.text  # before the delete, or too late
        if change.status_code == 404:
            assert_problem(change, 404)
        assert_problem(await client.get(path), 404)
    assert (await client.get("/users", params={"limit": 100})).json()["items"] == []


async def test_a_conditional_change_and_delete_of_one_version_have_one_winner(client: httpx.AsyncClient) -> None:
    for round_number in range(ROUNDS):
        user = await _create(client, f"contested{round_number}")
        path, version_one = f"/users/{user['id']}", {"If-Match": '"1"'}
        change, removal = await asyncio.gather(
            client.patch(path, json={"full_name": "mine"}, headers=version_one),
            client.delete(path, headers=version_one),
        )

        outcome = (change.status_code, removal.status_code)
        assert outcome in {(200, 412), (412, 204), (404, 204)}, (change.text, removal.text)
        current = await client.get(path)
        if removal.status_code == 204:
            assert current.status_code == 404
        else:
            assert current.json()["full_name"] == "mine"
            assert current.json()["version"] == 2


async def test_emails_differing_only_in_case_register_once(client: httpx.AsyncClient) -> None:
    for round_number in range(ROUNDS):
        spellings = [
            f"case{round_number}@example.com",
            f"CASE{round_number}@Example.com",
            f"Case{round_number}@EXAMPLE.COM",
        ]
        responses = await asyncio.gather(
            *(
                client.post("/users", json={"username": f"c{round_number}n{n}", "email": email})
                for n, email in enumerate(spellings * 2)
            )
        )

        statuses = sorted(response.status_code for response in responses)
        assert statuses == [201] + [409] * 5, [response.text for response in responses]
        for response in responses:
            if response.status_code == 409:
                assert assert_problem(response, 409)["type"].endswith(":email-taken")
        listed = await client.get("/users", params={"email": spellings[1]})
        assert len(listed.json()["items"]) == 1
