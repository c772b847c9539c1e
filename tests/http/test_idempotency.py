"""Idempotency-Key on POST /users and PATCH /users/{id}, through the real app, on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI

from application.errors import StorageUnavailable
from application.unit_of_work import UnitOfWork
from entrypoints.container import Container
from entrypoints.http.app import create_app
from tests.auth import app_settings, bearer
from tests.backends import Backend
from tests.http.problems import assert_problem, field_errors

DAY = timedelta(hours=24)
ALICE = {"username": "alice", "email": "alice@example.com", "full_name": "Alice Liddell"}


@dataclass
class SteppingClock:
    """The app's clock in these tests: it stands still until a test moves it on."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class CommitHook(UnitOfWork):
    """A backend's unit of work that awaits ``before_commit`` before each commit."""

    def __init__(self, inner: UnitOfWork, before_commit: Callable[[], Awaitable[None]]) -> None:
        self._inner = inner
        self._before_commit = before_commit

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        self.users, self.idempotency = self._inner.users, self._inner.idempotency
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, traceback)

    async def _begin(self) -> None:
        raise NotImplementedError("entered through the inner unit of work")

    async def commit(self) -> None:
        await self._before_commit()
        await self._inner.commit()

    async def rollback(self) -> None:
        await self._inner.rollback()


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def container(backend: Backend, clock: SteppingClock) -> Container:
    container = backend.container()
    container.clock.override(providers.Object(clock))
    return container


@pytest.fixture
async def app(container: Container) -> FastAPI:
    return create_app(container)


def _hook_commits(container: Container, backend: Backend, before_commit: Callable[[], Awaitable[None]]) -> None:
    container.storage().unit_of_work.override(
        providers.Factory(CommitHook, inner=providers.Factory(backend.unit_of_work), before_commit=before_commit)
    )


def _key(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def _usernames(client: httpx.AsyncClient) -> list[str]:
    return [user["username"] for user in (await client.get("/users")).json()["items"]]


def _assert_replay_of(retry: httpx.Response, first: httpx.Response) -> None:
    assert retry.status_code == first.status_code
    assert retry.content == first.content
    for header in ("content-type", "location", "etag"):
        assert retry.headers.get(header) == first.headers.get(header), header
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


# --- replays ----------------------------------------------------------------------------------------------------


async def test_a_retried_registration_gets_the_first_answer_and_registers_no_one_twice(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/users", json=ALICE, headers=_key("register-alice"))
    assert first.status_code == 201

    # The same JSON document, however it is spelled: key order and spacing are not part of the request.
    same = b'{ "full_name": "Alice Liddell",\n  "email": "alice@example.com", "username": "alice" }'
    retry = await client.post(
        "/users", content=same, headers={**_key("register-alice"), "content-type": "application/json"}
    )

    _assert_replay_of(retry, first)
    assert first.headers["location"] == f"/users/{first.json()['id']}"
    assert await _usernames(client) == ["alice"]


async def test_a_retried_change_is_applied_once(client: httpx.AsyncClient) -> None:
    created = await client.post("/users", json=ALICE)
    path, patch = created.headers["location"], {"full_name": "Alice Pleasance Liddell", "is_active": False}
    conditional = {**_key("rename"), "If-Match": '"1"', "content-type": "application/merge-patch+json"}

    first = await client.patch(path, json=patch, headers=conditional)
    retry = await client.patch(path, json=patch, headers=conditional)

    assert first.status_code == 200
    assert first.json()["version"] == 2
    _assert_replay_of(retry, first)  # run again, it would have been refused: the user is no longer at "1"
    assert (await client.get(path)).json() == first.json()


async def test_on_the_service_clock_a_retry_is_replayed(client: httpx.AsyncClient, container: Container) -> None:
    container.clock.reset_override()

    first = await client.post("/users", json=ALICE, headers=_key("k"))
    retry = await client.post("/users", json=ALICE, headers=_key("k"))

    assert first.status_code == 201
    _assert_replay_of(retry, first)


async def test_requests_without_a_key_are_not_replayed(client: httpx.AsyncClient) -> None:
    first = await client.post("/users", json=ALICE)
    second = await client.post("/users", json=ALICE)

    assert first.status_code == 201
    assert_problem(second, 409)
    assert "idempotent-replayed" not in second.headers


async def test_requests_under_different_keys_are_different_requests(client: httpx.AsyncClient) -> None:
    alice = await client.post("/users", json=ALICE, headers=_key("one"))
    bob = await client.post("/users", json={"username": "bob", "email": "bob@example.com"}, headers=_key("two"))

    assert (alice.status_code, bob.status_code) == (201, 201)
    assert await _usernames(client) == ["alice", "bob"]


async def test_one_callers_key_never_replays_another_callers_answer(client: httpx.AsyncClient) -> None:
    mine = await client.post("/users", json=ALICE, headers=_key("shared") | bearer(subject="team-a"))
    theirs = await client.post("/users", json=ALICE, headers=_key("shared") | bearer(subject="team-b"))

    assert mine.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert_problem(theirs, 409)  # their own request ran: the username is taken


# --- the same key for another request ---------------------------------------------------------------------------


async def test_the_same_key_with_another_body_is_refused(client: httpx.AsyncClient) -> None:
    await client.post("/users", json=ALICE, headers=_key("k"))

    other = await client.post("/users", json={**ALICE, "username": "alice2"}, headers=_key("k"))

    body = assert_problem(other, 422)
    assert body["type"].endswith(":idempotency-key-reused")
    assert "another body" in body["detail"]
    assert await _usernames(client) == ["alice"]


async def test_the_same_key_with_another_condition_is_refused(client: httpx.AsyncClient) -> None:
    path = (await client.post("/users", json=ALICE)).headers["location"]
    await client.patch(path, json={"full_name": "A"}, headers={**_key("k"), "If-Match": '"1"'})

    other = await client.patch(path, json={"full_name": "A"}, headers={**_key("k"), "If-Match": '"2"'})

    assert assert_problem(other, 422)["type"].endswith(":idempotency-key-reused")


async def test_the_same_key_on_another_route_is_refused(client: httpx.AsyncClient) -> None:
    """A key is one request's, whatever the route: the caller's keys share one space (its scope)."""
    created = await client.post("/users", json=ALICE, headers=_key("k"))
    bob = await client.post("/users", json={"username": "bob", "email": "bob@example.com"})

    for method, path in [("PATCH", created.headers["location"]), ("PATCH", bob.headers["location"])]:
        other = await client.request(method, path, json={"full_name": "x"}, headers=_key("k"))
        body = assert_problem(other, 422)
        assert "another method or path" in body["detail"]
    assert (await client.get(created.headers["location"])).json() == created.json()


@pytest.mark.parametrize(
    "key",
    [b"", b"x" * 256, b"tab\there", b"caf\xc3\xa9", b"nul\x00"],
    ids=["empty", "256-chars", "control-char", "non-ascii", "nul"],
)
async def test_a_malformed_key_is_a_validation_problem_and_nothing_is_written(
    client: httpx.AsyncClient, key: bytes
) -> None:
    response = await client.post("/users", json=ALICE, headers={b"Idempotency-Key": key})

    assert field_errors(response) == {"Idempotency-Key"}
    assert await _usernames(client) == []


async def test_a_key_of_255_printable_characters_is_accepted(client: httpx.AsyncClient) -> None:
    key = (" !~Az09-_:" * 26)[:255]

    first = await client.post("/users", json=ALICE, headers=_key(key))
    retry = await client.post("/users", json=ALICE, headers=_key(key))

    assert first.status_code == 201
    _assert_replay_of(retry, first)


# --- which failures are remembered ------------------------------------------------------------------------------


async def test_a_conflict_is_replayed_even_once_its_cause_is_gone(client: httpx.AsyncClient) -> None:
    holder = await client.post("/users", json=ALICE)
    clash = {"username": "ALICE", "email": "other@example.com"}

    first = await client.post("/users", json=clash, headers=_key("k"))
    assert (await client.delete(holder.headers["location"])).status_code == 204
    retry = await client.post("/users", json=clash, headers=_key("k"))

    assert assert_problem(first, 409)["type"].endswith(":username-taken")
    _assert_replay_of(retry, first)
    assert await _usernames(client) == []


async def test_a_change_of_an_unknown_user_or_a_stale_version_is_replayed(client: httpx.AsyncClient) -> None:
    path = (await client.post("/users", json=ALICE)).headers["location"]
    await client.patch(path, json={"full_name": "moved on"})
    requests = [
        ("/users/01a20000-0000-7000-8000-000000000000", {}, 404),
        (path, {"If-Match": '"1"'}, 412),
    ]
    for target, conditions, status in requests:
        first = await client.patch(target, json={"full_name": "x"}, headers={**_key(f"k{status}"), **conditions})
        retry = await client.patch(target, json={"full_name": "x"}, headers={**_key(f"k{status}"), **conditions})
        assert_problem(first, status)
        _assert_replay_of(retry, first)


async def test_an_invalid_body_does_not_use_up_the_key(client: httpx.AsyncClient) -> None:
    invalid = await client.post("/users", json={**ALICE, "email": "not-an-address"}, headers=_key("k"))
    corrected = await client.post("/users", json=ALICE, headers=_key("k"))

    assert field_errors(invalid) == {"email"}
    assert corrected.status_code == 201
    assert "idempotent-replayed" not in corrected.headers


async def test_a_503_is_not_remembered_and_the_retry_really_runs(
    client: httpx.AsyncClient, container: Container, backend: Backend
) -> None:
    outages = [StorageUnavailable("the database cannot be reached")]

    async def first_commit_fails() -> None:
        if outages:
            raise outages.pop()

    _hook_commits(container, backend, first_commit_fails)

    failed = await client.post("/users", json=ALICE, headers=_key("k"))
    retry = await client.post("/users", json=ALICE, headers=_key("k"))
    again = await client.post("/users", json=ALICE, headers=_key("k"))

    assert_problem(failed, 503)
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    _assert_replay_of(again, retry)
    assert await _usernames(client) == ["alice"]


# --- expiry -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl_seconds", [None, 60], ids=["default-24h", "60s"])
async def test_an_answer_is_replayed_until_the_key_expires_then_the_request_runs_again(
    client: httpx.AsyncClient,
    container: Container,
    backend: Backend,
    clock: SteppingClock,
    ttl_seconds: int | None,
) -> None:
    if ttl_seconds is not None:
        container.settings.override(
            providers.Object(app_settings(database_url=backend.url, idempotency_key_ttl_seconds=ttl_seconds))
        )
    ttl = DAY if ttl_seconds is None else timedelta(seconds=ttl_seconds)
    first = await client.post("/users", json=ALICE, headers=_key("k"))

    clock.advance(ttl - timedelta(microseconds=1))
    _assert_replay_of(await client.post("/users", json=ALICE, headers=_key("k")), first)

    clock.advance(timedelta(microseconds=1))
    rerun = await client.post("/users", json=ALICE, headers=_key("k"))
    # alice exists: it ran again (SQLite names the email first, the others the username)
    assert assert_problem(rerun, 409)["type"].rsplit(":", 1)[1] in {"username-taken", "email-taken"}
    assert "idempotent-replayed" not in rerun.headers
    _assert_replay_of(await client.post("/users", json=ALICE, headers=_key("k")), rerun)


async def test_an_expired_key_may_be_used_for_another_request(client: httpx.AsyncClient, clock: SteppingClock) -> None:
    await client.post("/users", json=ALICE, headers=_key("k"))
    clock.advance(DAY)

    bob = await client.post("/users", json={"username": "bob", "email": "bob@example.com"}, headers=_key("k"))

    assert bob.status_code == 201
    assert await _usernames(client) == ["alice", "bob"]


# --- concurrent retries -----------------------------------------------------------------------------------------

RACERS = 8


async def _slow_commit() -> None:
    await asyncio.sleep(0.1)  # every racer arrives while the first one's unit of work is still open


@pytest.mark.parametrize("slow_commit", [False, True], ids=["as-fast-as-possible", "slow-commit"])
async def test_concurrent_retries_register_once_and_all_get_the_same_answer(
    client: httpx.AsyncClient, container: Container, backend: Backend, slow_commit: bool
) -> None:
    if slow_commit:
        _hook_commits(container, backend, _slow_commit)

    answers = await asyncio.gather(*(client.post("/users", json=ALICE, headers=_key("race")) for _ in range(RACERS)))

    originals = [answer for answer in answers if "idempotent-replayed" not in answer.headers]
    assert len(originals) == 1
    assert originals[0].status_code == 201
    for answer in answers:
        if answer is not originals[0]:
            _assert_replay_of(answer, originals[0])
    assert await _usernames(client) == ["alice"]


async def test_concurrent_retries_of_a_change_apply_it_once(
    client: httpx.AsyncClient, container: Container, backend: Backend
) -> None:
    path = (await client.post("/users", json=ALICE)).headers["location"]
    _hook_commits(container, backend, _slow_commit)
    headers = {**_key("race"), "If-Match": '"1"'}

    answers = await asyncio.gather(
        *(client.patch(path, json={"is_active": False}, headers=headers) for _ in range(RACERS))
    )

    originals = [answer for answer in answers if "idempotent-replayed" not in answer.headers]
    assert [(answer.status_code, answer.json()["version"]) for answer in originals] == [(200, 2)]
    for answer in answers:
        if answer is not originals[0]:
            _assert_replay_of(answer, originals[0])
    assert (await client.get(path)).json()["version"] == 2


async def test_concurrent_retries_that_are_refused_all_get_the_same_refusal(client: httpx.AsyncClient) -> None:
    await client.post("/users", json=ALICE)
    clash: dict[str, Any] = {"username": "Alice", "email": "clash@example.com"}

    answers = await asyncio.gather(*(client.post("/users", json=clash, headers=_key("race")) for _ in range(RACERS)))

    originals = [answer for answer in answers if "idempotent-replayed" not in answer.headers]
    assert len(originals) == 1
    assert assert_problem(originals[0], 409)["type"].endswith(":username-taken")
    for answer in answers:
        if answer is not originals[0]:
            _assert_replay_of(answer, originals[0])


# --- the API description ----------------------------------------------------------------------------------------


async def test_the_header_is_described_on_both_write_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()

    for path, method, success in [("/users", "post", "201"), ("/users/{user_id}", "patch", "200")]:
        operation = spec["paths"][path][method]
        (key,) = [parameter for parameter in operation["parameters"] if parameter["name"] == "Idempotency-Key"]
        assert key["in"] == "header"
        assert key["required"] is False
        assert {"type": "string", "minLength": 1, "maxLength": 255}.items() <= key["schema"].items()
        assert "Idempotent-Replayed" in operation["responses"][success]["headers"]
        assert "Idempotency-Key" in operation["responses"]["422"]["description"]
