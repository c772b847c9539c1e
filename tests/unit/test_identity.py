"""User ids: UUIDv7 (RFC 9562) that sort in the order they were made, whatever the clock does."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator

import pytest

from domain import identity
from domain.identity import new_user_id


def _ms(user_id: uuid.UUID) -> int:
    """The Unix time in milliseconds embedded in the top 48 bits of a UUIDv7."""
    return user_id.int >> 80


def _counter(user_id: uuid.UUID) -> int:
    """The 12 bits of ``rand_a``, which this generator uses as a counter."""
    return (user_id.int >> 64) & 0xFFF


def _assert_strictly_increasing(ids: list[uuid.UUID]) -> None:
    for earlier, later in itertools.pairwise(ids):
        assert earlier < later, f"{earlier} is not before {later}"
    assert len(set(ids)) == len(ids)


def _clock(values_ns: Iterator[int]) -> object:
    def time_ns() -> int:
        return next(values_ns)

    return time_ns


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A monkeypatch that also puts the generator's state back afterwards, so a fake clock cannot leak."""
    monkeypatch.setattr(identity, "_last_ms", identity._last_ms)
    monkeypatch.setattr(identity, "_counter", identity._counter)
    return monkeypatch


def test_an_id_is_a_version_7_rfc_4122_uuid() -> None:
    user_id = new_user_id()

    assert user_id.version == 7
    assert user_id.variant == uuid.RFC_4122
    assert (user_id.int >> 76) & 0xF == 7
    assert (user_id.int >> 62) & 0b11 == 0b10


def test_an_id_embeds_the_current_time_in_milliseconds() -> None:
    before_ms = time.time() * 1000
    user_id = new_user_id()
    after_ms = time.time() * 1000

    assert before_ms - 1000 <= _ms(user_id) <= after_ms + 1000


def test_consecutive_ids_strictly_increase() -> None:
    ids = [new_user_id() for _ in range(10_000)]

    _assert_strictly_increasing(ids)
    assert all(user_id.version == 7 and user_id.variant == uuid.RFC_4122 for user_id in ids)


def test_ids_keep_increasing_when_the_clock_stands_still_past_the_counter(fake_clock: pytest.MonkeyPatch) -> None:
    frozen_ns = time.time_ns()
    fake_clock.setattr("domain.identity.time.time_ns", lambda: frozen_ns)

    ids = [new_user_id() for _ in range(5_000)]

    _assert_strictly_increasing(ids)
    # More ids than a 12-bit counter holds in one millisecond: the generator must have borrowed the next one.
    milliseconds = sorted({_ms(user_id) for user_id in ids})
    assert len(milliseconds) >= 2
    assert milliseconds[-1] - milliseconds[0] <= 3
    assert milliseconds[0] >= frozen_ns // 1_000_000
    # After borrowing a millisecond the counter starts again from zero.
    assert any(_counter(user_id) == 0 for user_id in ids)
    assert all(user_id.version == 7 and user_id.variant == uuid.RFC_4122 for user_id in ids)


def test_ids_keep_increasing_when_the_clock_goes_backwards(fake_clock: pytest.MonkeyPatch) -> None:
    now_ns = time.time_ns()
    readings = [now_ns] * 10 + [now_ns - 5_000_000_000] * 100 + [now_ns - 60_000_000_000] * 100 + [now_ns] * 10
    fake_clock.setattr("domain.identity.time.time_ns", _clock(iter(readings)))

    ids = [new_user_id() for _ in range(len(readings))]

    _assert_strictly_increasing(ids)
    # No id goes back in time with the clock.
    assert min(_ms(user_id) for user_id in ids) >= now_ns // 1_000_000


def test_ids_follow_the_clock_when_it_moves_on(fake_clock: pytest.MonkeyPatch) -> None:
    start_ns = time.time_ns() + 10_000_000_000  # ahead of anything issued so far
    readings = [start_ns + step * 1_000_000 for step in range(5)]
    fake_clock.setattr("domain.identity.time.time_ns", _clock(iter(readings)))

    ids = [new_user_id() for _ in readings]

    assert [_ms(user_id) for user_id in ids] == [reading // 1_000_000 for reading in readings]
    # A new millisecond restarts the counter low, leaving room for many ids in it.
    assert all(_counter(user_id) <= 0x1FF for user_id in ids)
