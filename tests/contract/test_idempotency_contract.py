"""The idempotency records (``uow.idempotency``) on every adapter: memory, SQLite and PostgreSQL.

One key, one answer: a claim holds the key until its unit of work ends, the answer commits or rolls back
with the unit of work's other writes, and expired answers make way for new ones.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from application.idempotency import IdempotencyRecord, KeyedRequest, StoredResponse
from domain.users import User
from tests.backends import Backend, on_backends
from tests.factories import a_user

T0 = datetime(2026, 11, 25, 7, 0, 0, 123456, tzinfo=UTC)
TTL = timedelta(hours=24)


def _request(key: str = "key-1", *, scope: str = "", fingerprint: str = "f" * 64) -> KeyedRequest:
    return KeyedRequest(scope=scope, key=key, method="POST", path="/users", fingerprint=fingerprint)


def _response(status: int = 201, body: bytes = b'{"id": "1"}') -> StoredResponse:
    return StoredResponse(
        status=status, headers=(("content-type", "application/json"), ("location", "/users/1")), body=body
    )


async def _record(
    backend: Backend, request: KeyedRequest, response: StoredResponse, *, now: datetime = T0, ttl: timedelta = TTL
) -> None:
    async with backend.unit_of_work() as uow:
        assert await uow.idempotency.claim(request, now=now, expires_at=now + ttl) is None
        await uow.idempotency.complete(request, response)
        await uow.commit()


async def _held(backend: Backend, request: KeyedRequest, *, now: datetime = T0) -> IdempotencyRecord | None:
    """The live record holding the request's key at ``now``, if any (the claim is rolled back)."""
    async with backend.unit_of_work() as uow:
        return await uow.idempotency.claim(request, now=now, expires_at=now + TTL)


async def _users(backend: Backend, *users: User) -> list[User | None]:
    async with backend.unit_of_work() as uow:
        return [await uow.users.get(user.id) for user in users]


async def test_an_answer_reads_back_exactly_for_any_request_under_its_key(backend: Backend) -> None:
    request = _request()
    response = _response(body='{"full_name": "Zoë 山田"}'.encode() + b"\x00\xff")
    await _record(backend, request, response)

    other_body = _request(fingerprint="0" * 64)  # comparing the requests is the caller's business
    for asking in (request, other_body):
        assert await _held(backend, asking, now=T0 + timedelta(hours=1)) == IdempotencyRecord(
            request=request, response=response, created_at=T0, expires_at=T0 + TTL
        )


async def test_a_free_key_is_claimed_and_nothing_is_held_before_the_commit(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        assert await uow.idempotency.claim(_request(), now=T0, expires_at=T0 + TTL) is None
        await uow.idempotency.complete(_request(), _response())
        # leaving without commit

    assert await _held(backend, _request()) is None


async def test_the_answer_commits_and_rolls_back_with_the_write(backend: Backend) -> None:
    rolled_back, committed = a_user(), a_user()
    for user, request, commit in [(rolled_back, _request("a"), False), (committed, _request("b"), True)]:
        async with backend.unit_of_work() as uow:
            assert await uow.idempotency.claim(request, now=T0, expires_at=T0 + TTL) is None
            await uow.users.add(user)
            await uow.idempotency.complete(request, _response())
            if commit:
                await uow.commit()

    assert await _users(backend, rolled_back, committed) == [None, committed]
    assert await _held(backend, _request("a")) is None
    held = await _held(backend, _request("b"))
    assert held is not None
    assert held.response == _response()


async def test_a_claim_committed_without_an_answer_is_as_if_never_made(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        assert await uow.idempotency.claim(_request(), now=T0, expires_at=T0 + TTL) is None
        await uow.commit()

    assert await _held(backend, _request()) is None
    await _record(backend, _request(), _response(200))
    held = await _held(backend, _request())
    assert held is not None
    assert held.response.status == 200


async def test_an_expired_answer_is_ignored_and_replaced(backend: Backend) -> None:
    await _record(backend, _request(), _response(201), ttl=timedelta(seconds=10))

    assert await _held(backend, _request(), now=T0 + timedelta(seconds=9.999)) is not None
    later = T0 + timedelta(seconds=10)  # expired at that very moment
    replacement = _request(fingerprint="1" * 64)
    await _record(backend, replacement, _response(409), now=later)

    held = await _held(backend, _request(), now=later + timedelta(seconds=1))
    assert held == IdempotencyRecord(
        request=replacement, response=_response(409), created_at=later, expires_at=later + TTL
    )


async def test_keys_of_different_scopes_never_meet(backend: Backend) -> None:
    await _record(backend, _request(scope="alice"), _response(201))

    assert await _held(backend, _request(scope="bob")) is None
    assert await _held(backend, _request()) is None
    await _record(backend, _request(scope="bob"), _response(409))
    alices, bobs = await _held(backend, _request(scope="alice")), await _held(backend, _request(scope="bob"))
    assert alices is not None
    assert bobs is not None
    assert (alices.response.status, bobs.response.status) == (201, 409)


async def test_only_a_claimed_unanswered_key_can_be_answered(backend: Backend) -> None:
    await _record(backend, _request("answered"), _response(201))

    async with backend.unit_of_work() as uow:
        with pytest.raises(RuntimeError):
            await uow.idempotency.complete(_request("never-claimed"), _response())
        with pytest.raises(RuntimeError):
            await uow.idempotency.complete(_request("answered"), _response(500))
        assert await uow.idempotency.claim(_request("mine"), now=T0, expires_at=T0 + TTL) is None
        await uow.idempotency.complete(_request("mine"), _response())
        with pytest.raises(RuntimeError):
            await uow.idempotency.complete(_request("mine"), _response(500))

    held = await _held(backend, _request("answered"))
    assert held is not None
    assert held.response.status == 201


@pytest.mark.parametrize("first_commits", [True, False], ids=["first-commits", "first-rolls-back"])
async def test_a_claim_of_a_held_key_waits_for_its_holder(backend: Backend, first_commits: bool) -> None:
    """The second claim returns only once the first unit of work has ended: with the first's answer if it
    committed one, else with the key for itself."""
    first_claimed = asyncio.Event()
    events: list[str] = []

    async def first() -> None:
        async with backend.unit_of_work() as uow:
            assert await uow.idempotency.claim(_request(), now=T0, expires_at=T0 + TTL) is None
            first_claimed.set()
            await asyncio.sleep(0.05)  # the second claims meanwhile: PostgreSQL makes it wait on the key
            await uow.idempotency.complete(_request(), _response(201))
            events.append("first ends")
            if first_commits:
                await uow.commit()

    async def second() -> IdempotencyRecord | None:
        await first_claimed.wait()
        async with backend.unit_of_work() as uow:
            found = await uow.idempotency.claim(_request(), now=T0, expires_at=T0 + TTL)
            events.append("second claimed")
            return found

    _, found = await asyncio.wait_for(asyncio.gather(first(), second()), timeout=10)

    assert events == ["first ends", "second claimed"]
    if first_commits:
        assert found is not None
        assert found.response == _response(201)
    else:
        assert found is None


async def test_purge_deletes_expired_answers_oldest_first_up_to_the_limit(backend: Backend) -> None:
    for seconds in (3, 1, 2):
        await _record(backend, _request(f"expires-{seconds}"), _response(), ttl=timedelta(seconds=seconds))
    await _record(backend, _request("live"), _response(), ttl=timedelta(hours=1))
    after = T0 + timedelta(seconds=10)

    async with backend.unit_of_work() as uow:
        assert await uow.idempotency.purge_expired(now=after, limit=2) == 2
        # leaving without commit: nothing was deleted
    assert await _held(backend, _request("expires-1")) is not None

    async with backend.unit_of_work() as uow:
        assert await uow.idempotency.purge_expired(now=after, limit=2) == 2
        await uow.commit()
    # Seen from before they expired, only the newest expired answer and the live one are left.
    left = [key for key in ("expires-1", "expires-2", "expires-3", "live") if await _held(backend, _request(key))]
    assert left == ["expires-3", "live"]

    async with backend.unit_of_work() as uow:
        assert await uow.idempotency.purge_expired(now=after, limit=100) == 1
        await uow.commit()
    assert await _held(backend, _request("live")) is not None


# Not on SQLite: it lets one unit of work in at a time, so no purge can run beside an open claim.
@on_backends("memory", "postgres")
async def test_purge_skips_a_key_that_another_unit_of_work_has_claimed(backend: Backend) -> None:
    await _record(backend, _request(), _response(201), ttl=timedelta(seconds=1))
    later = T0 + timedelta(seconds=5)

    async with backend.unit_of_work() as claimer:
        assert await claimer.idempotency.claim(_request(), now=later, expires_at=later + TTL) is None
        async with asyncio.timeout(5), backend.unit_of_work() as purger:  # not waiting for the claimer either
            assert await purger.idempotency.purge_expired(now=later, limit=100) == 0
            await purger.commit()
        await claimer.idempotency.complete(_request(), _response(200))
        await claimer.commit()

    held = await _held(backend, _request(), now=later)
    assert held is not None
    assert held.response.status == 200
