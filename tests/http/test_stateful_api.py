"""The API driven by random sequences of creates, changes, deletes, reads and listings (a Hypothesis state
machine) and held, after every step, to a model a few lines long: on memory and PostgreSQL.

The values come from small pools so that sequences collide: usernames that differ only in case, emails in
several spellings, stale and current If-Match tags, users already deleted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.backends import Backend, on_backends
from tests.http.problems import assert_problem, field_errors

pytestmark = on_backends("memory", "postgres")

T = TypeVar("T")

_USERNAMES = ["alice", "Alice", "ALICE", "bob", "BoB", "carol"]
_INVALID_USERNAMES = ["x", "\u0430lice", "no spaces"]
_EMAILS = ["alice@example.com", "Alice@Example.COM", "bob@example.com", "carol@example.com", "dave@EXAMPLE.com"]
_FULL_NAMES = [None, "Alice Liddell", "<script>alert(1)</script>", "'; DROP TABLE users; --", "Zoë 山田"]
_NEVER_CREATED = "01a20000-0000-7000-8000-000000000000"

_patches = st.fixed_dictionaries(
    {},
    optional={
        "username": st.sampled_from(_USERNAMES + _INVALID_USERNAMES),
        "email": st.sampled_from(_EMAILS),
        "full_name": st.sampled_from(_FULL_NAMES),
        "is_active": st.booleans(),
    },
)
# If-Match: none, the current version, one that is not current, or any version.
_preconditions = st.sampled_from(["none", "current", "stale", "*"])


class _OnLoop:
    """Runs a coroutine on the test's event loop from the state machine's thread, and waits for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def __call__(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()


class UsersApiMachine(RuleBasedStateMachine):
    users = Bundle("users")

    def __init__(
        self, on_loop: _OnLoop, client: httpx.AsyncClient, backend: Backend, auth_headers: dict[str, str]
    ) -> None:
        super().__init__()
        self._on_loop = on_loop
        self._client = client
        self._auth_headers = auth_headers
        on_loop(backend.reset())
        # The model: each live user as the API last showed it, by id.
        self.live: dict[str, dict[str, Any]] = {}

    def _request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, **options: Any
    ) -> httpx.Response:
        request = self._client.request(method, url, headers={**self._auth_headers, **(headers or {})}, **options)
        return self._on_loop(request)

    def _taken(self, username: str, email: str, *, by_others_than: str | None = None) -> set[str]:
        """The conflicts (problem kinds) that a user with these values would meet."""
        taken = set()
        for user_id, user in self.live.items():
            if user_id == by_others_than:
                continue
            if user["username"].lower() == username.lower():
                taken.add("username-taken")
            if user["email"] == email.lower():
                taken.add("email-taken")
        return taken

    def _if_match(self, user_id: str, precondition: str) -> dict[str, str]:
        version = self.live[user_id]["version"] if user_id in self.live else 1
        tags = {"none": None, "current": f'"{version}"', "stale": f'"{version + 1}"', "*": "*"}
        tag = tags[precondition]
        return {} if tag is None else {"If-Match": tag}

    @initialize(target=users)
    def a_user_never_created(self) -> str:
        return _NEVER_CREATED

    @rule(
        target=users,
        username=st.sampled_from(_USERNAMES + _INVALID_USERNAMES),
        email=st.sampled_from(_EMAILS),
        full_name=st.sampled_from(_FULL_NAMES),
        is_active=st.booleans(),
    )
    def create(self, username: str, email: str, full_name: str | None, is_active: bool) -> Any:
        body = {"username": username, "email": email, "full_name": full_name, "is_active": is_active}
        response = self._request("POST", "/users", json=body)

        if username in _INVALID_USERNAMES:
            assert field_errors(response) == {"username"}
            return multiple()
        taken = self._taken(username, email)
        if taken:
            assert assert_problem(response, 409)["type"].rsplit(":", 1)[-1] in taken
            return multiple()
        assert response.status_code == 201, response.text
        user = response.json()
        assert user == {
            **body,
            "email": email.lower(),
            "id": user["id"],
            "created_at": user["created_at"],
            "updated_at": user["created_at"],
            "version": 1,
        }
        assert response.headers["etag"] == '"1"'
        self.live[user["id"]] = user
        return user["id"]

    @rule(user_id=users)
    def get(self, user_id: str) -> None:
        response = self._request("GET", f"/users/{user_id}")

        if user_id not in self.live:
            assert_problem(response, 404)
            return
        assert response.status_code == 200, response.text
        assert response.json() == self.live[user_id]
        assert response.headers["etag"] == f'"{self.live[user_id]["version"]}"'

    @rule(user_id=users, patch=_patches, precondition=_preconditions)
    def change(self, user_id: str, patch: dict[str, Any], precondition: str) -> None:
        response = self._request(
            "PATCH", f"/users/{user_id}", json=patch, headers=self._if_match(user_id, precondition)
        )

        if user_id not in self.live:
            assert_problem(response, 404)
            return
        if precondition == "stale":
            assert_problem(response, 412)
            return
        if patch.get("username") in _INVALID_USERNAMES:
            assert field_errors(response) == {"username"}
            return
        before = self.live[user_id]
        after = {**before, **patch, **({"email": patch["email"].lower()} if "email" in patch else {})}
        if after == before:
            assert response.status_code == 200, response.text
            assert response.json() == before
            assert response.headers["etag"] == f'"{before["version"]}"'
            return
        taken = self._taken(after["username"], after["email"], by_others_than=user_id)
        if taken:
            assert assert_problem(response, 409)["type"].rsplit(":", 1)[-1] in taken
            return
        assert response.status_code == 200, response.text
        user = response.json()
        assert user == {**after, "version": before["version"] + 1, "updated_at": user["updated_at"]}
        assert datetime.fromisoformat(user["updated_at"]) >= datetime.fromisoformat(before["updated_at"])
        assert response.headers["etag"] == f'"{user["version"]}"'
        self.live[user_id] = user

    @precondition(lambda machine: bool(machine.live))
    @rule(data=st.data())
    def change_to_what_it_is(self, data: st.DataObject) -> None:
        """A patch of values the user has already (the email in capitals): no change, no new version."""
        user_id = data.draw(st.sampled_from(sorted(self.live)), label="user_id")
        before = self.live[user_id]
        names = data.draw(
            st.lists(st.sampled_from(["username", "email", "full_name", "is_active"]), min_size=1, unique=True)
        )
        patch = {name: before[name].upper() if name == "email" else before[name] for name in names}

        response = self._request("PATCH", f"/users/{user_id}", json=patch, headers=self._if_match(user_id, "current"))

        assert response.status_code == 200, response.text
        assert response.json() == before
        assert response.headers["etag"] == f'"{before["version"]}"'

    @rule(user_id=users, precondition=_preconditions)
    def delete(self, user_id: str, precondition: str) -> None:
        response = self._request("DELETE", f"/users/{user_id}", headers=self._if_match(user_id, precondition))

        if user_id not in self.live:
            assert_problem(response, 404)
            return
        if precondition == "stale":
            assert_problem(response, 412)
            return
        assert response.status_code == 204, response.text
        del self.live[user_id]

    @rule(
        limit=st.integers(1, 4),
        where=st.fixed_dictionaries(
            {},
            optional={
                "is_active": st.booleans(),
                "username": st.sampled_from(_USERNAMES),
                "email": st.sampled_from(_EMAILS),
            },
        ),
    )
    def list_pages(self, limit: int, where: dict[str, Any]) -> None:
        def wanted(user: dict[str, Any]) -> bool:
            return bool(
                user["is_active"] == where.get("is_active", user["is_active"])
                and user["username"].lower() == where.get("username", user["username"]).lower()
                and user["email"] == where.get("email", user["email"]).lower()
            )

        assert self._walk(limit, where) == [user for user in self._in_id_order() if wanted(user)]

    @invariant()
    def the_whole_list_agrees(self) -> None:
        assert self._walk(100, {}) == self._in_id_order()

    def _in_id_order(self) -> list[dict[str, Any]]:
        return [self.live[user_id] for user_id in sorted(self.live, key=UUID)]

    def _walk(self, limit: int, where: dict[str, Any]) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        cursor = None
        for _ in range(len(self.live) + 2):  # a page more than the users, whatever the limit: no endless walk
            params = {"limit": limit, **where, **({"cursor": cursor} if cursor else {})}
            response = self._request("GET", "/users", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            seen.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return seen
        raise AssertionError(f"the walk did not end: {seen}")


async def test_the_api_behaves_like_the_model(
    client: httpx.AsyncClient, backend: Backend, auth_headers: dict[str, str]
) -> None:
    on_loop = _OnLoop(asyncio.get_running_loop())

    class OnThisTestsApp(UsersApiMachine):
        def __init__(self) -> None:
            super().__init__(on_loop, client, backend, auth_headers)

    # The machine runs in a worker thread and sends each request back to this loop: Hypothesis' state
    # machines are synchronous, while the app, and the PostgreSQL pool, live on this loop.
    await asyncio.to_thread(
        run_state_machine_as_test,
        OnThisTestsApp,
        settings=settings(max_examples=12, stateful_step_count=20, suppress_health_check=[HealthCheck.too_slow]),
    )
