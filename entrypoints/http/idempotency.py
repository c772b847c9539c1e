"""The ``Idempotency-Key`` request header of the write routes, and the replay of a stored answer.

A route hands its use case ``keys.write(sent, answer)``: ``None`` without a key, else an ``IdempotentWrite``
for the request (see application/idempotent_writes.py for what it does). The request is told from others by
its method, its path and a fingerprint of ``sent`` (its body, and conditions such as If-Match); the answer is
stored as the client got it: status, body, and the headers that describe it (Content-Type, Location, ETag).
A replay repeats it with ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Final, TypeVar

from fastapi import FastAPI, Header, Request, Response

from application.idempotency import KEY_MAX_LENGTH, AlreadyAnswered, KeyedRequest, StoredResponse
from application.idempotent_writes import Clock, IdempotentWrite
from entrypoints.http.problems import refusal_problem

T = TypeVar("T")

KEY_HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
# The request id, the content length and the like belong to each response; these belong to the answer.
_STORED_HEADERS: Final = frozenset({"content-type", "location", "etag"})

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=KEY_HEADER,
        min_length=1,
        max_length=KEY_MAX_LENGTH,
        pattern=r"^[\x20-\x7E]+$",
        description=(
            "Makes a retry of this request safe: 1-255 printable ASCII characters, unique per request (a UUID, "
            "say). A retry with the same key and the same request gets the first answer again, with "
            "`Idempotent-Replayed: true`, and changes nothing; the same key with another body, method or path is "
            "refused (422). Answers are kept for `IDEMPOTENCY_KEY_TTL_SECONDS` (24 h by default)."
        ),
        examples=["6f1c0b1e-5d0b-4f37-9a44-8d2c1f0e7a55"],
    ),
]

REPLAYED_RESPONSE_HEADER: Final = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def fingerprint(sent: object) -> str:
    """SHA-256 of the canonical JSON of ``sent``: the order of keys and the spacing do not matter."""
    canonical = json.dumps(sent, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def stored(response: Response) -> StoredResponse:
    headers = tuple((name, value) for name, value in response.headers.items() if name in _STORED_HEADERS)
    return StoredResponse(status=response.status_code, headers=headers, body=bytes(response.body))


@dataclass(frozen=True, slots=True)
class IdempotencyKeys:
    """What a write route needs to make its use case idempotent, when the request carries a key."""

    key: str | None
    scope: str
    method: str
    path: str
    clock: Clock
    ttl: timedelta

    def write(self, sent: object, answer: Callable[[T], Response]) -> IdempotentWrite[T] | None:
        """The use case's ``idempotency``: ``sent`` is what the client sent besides the method and path, as
        JSON values; ``answer`` makes the route's response to the use case's result."""
        if self.key is None:
            return None
        request = KeyedRequest(
            scope=self.scope, key=self.key, method=self.method, path=self.path, fingerprint=fingerprint(sent)
        )
        return IdempotentWrite(
            request,
            answer=lambda result: stored(answer(result)),
            refusal=lambda error: stored(refusal_problem(error)),
            clock=self.clock,
            ttl=self.ttl,
        )


async def _replay(_: Request, error: Exception) -> Response:
    assert isinstance(error, AlreadyAnswered)
    answer = error.response
    return Response(answer.body, status_code=answer.status, headers={**dict(answer.headers), REPLAYED_HEADER: "true"})


def install_replay(app: FastAPI) -> None:
    app.add_exception_handler(AlreadyAnswered, _replay)
