"""The idempotency port: what was answered to a keyed request, kept so that a retry gets the same answer.

A client that cannot tell whether a write went through (a timeout, a dropped connection) retries it with the
same ``Idempotency-Key``. The first request's answer is stored with its write, in the same unit of work, so
the two commit or roll back together; a retry finds the answer and gets it again instead of writing twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Final

KEY_MAX_LENGTH: Final = 255


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """A request that carries an idempotency key, reduced to what tells one request from another."""

    scope: str
    """Whose key it is: keys of different scopes never meet. The caller's identity once requests are
    authenticated; ``""`` (everyone) until then."""
    key: str
    method: str
    path: str
    fingerprint: str
    """A digest of the rest of the request (its body, and conditions such as If-Match)."""

    def same_request_as(self, other: KeyedRequest) -> bool:
        return (self.method, self.path, self.fingerprint) == (other.method, other.path, other.fingerprint)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """An answer, as it went out: status, the headers worth repeating, and the body's exact bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    request: KeyedRequest
    response: StoredResponse
    created_at: datetime
    expires_at: datetime


class IdempotencyRecords(ABC):
    """Answers to keyed requests inside one unit of work, one per (scope, key).

    Every adapter obeys the same contract (tests/contract): a key is claimed by one unit of work at a time
    (another claim of it waits until that unit of work ends), and what a unit of work records becomes
    visible to others when it commits, never before, and never if it rolls back.
    """

    @abstractmethod
    async def claim(self, request: KeyedRequest, *, now: datetime, expires_at: datetime) -> IdempotencyRecord | None:
        """Take the request's key for this unit of work, or give the record that holds it.

        ``None``: the key was free, or held by a record that expired at or before ``now`` (which this claim
        replaces); it is this unit of work's until it ends, and ``complete`` must record its answer before
        the commit. A claim committed without an answer is as if it had never been made.
        While another unit of work holds the key, this waits for it to end: if it committed an answer, that
        record is the result (whatever request it answered: comparing is the caller's business).
        """

    @abstractmethod
    async def complete(self, request: KeyedRequest, response: StoredResponse) -> None:
        """Record the answer to a request whose key this unit of work claimed and has not answered yet;
        ``RuntimeError`` for any other key."""

    @abstractmethod
    async def purge_expired(self, *, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` records that expired at or before ``now``, oldest first, skipping any that
        another unit of work holds; how many this deleted (committed with this unit of work)."""


class AlreadyAnswered(Exception):
    """The request was answered before: give the client that answer again, and write nothing."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__(f"answered before with status {response.status}")
        self.response = response


class IdempotencyKeyReused(Exception):
    """The key already answers a different request (another method, path or body): a client bug that must
    not be papered over by replaying an answer to something else."""

    def __init__(self, earlier: KeyedRequest, request: KeyedRequest) -> None:
        super().__init__("the idempotency key was used for a different request")
        self.same_route = (earlier.method, earlier.path) == (request.method, request.path)
