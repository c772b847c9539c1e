"""The ``Idempotency-Key`` request header of the write routes, and the replay of a stored answer.

A route hands its use case ``idempotent_write(request, sent, answer)`` (dependencies.py): ``None`` without a
key, else an ``IdempotentWrite`` for the request (see application/idempotent_writes.py for what it does). The
request is told from others by its method, its path and a fingerprint of ``sent`` (its body, and conditions
such as If-Match); the answer is stored as the client got it: status, body, and the headers that describe it
(Content-Type, Location, ETag). A replay repeats it with ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Final, TypeVar

from fastapi import FastAPI, Request, Response
from pydantic import StringConstraints

from application.idempotency import KEY_MAX_LENGTH, AlreadyAnswered, KeyedRequest, StoredResponse
from application.idempotent_writes import Clock, IdempotentWrite
from entrypoints.http.problems import refusal_problem
from entrypoints.http.request_headers import RequestHeader

T = TypeVar("T")

KEY_HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
# The request id, the content length and the like belong to each response; these belong to the answer.
_STORED_HEADERS: Final = frozenset({"content-type", "location", "etag"})

IDEMPOTENCY_KEY: Final = RequestHeader(
    KEY_HEADER,
    description=(
        "Makes a retry of this request safe: 1-255 printable ASCII characters, unique per request (a UUID, "
        "say). A retry with the same key and the same request gets the first answer again, with "
        "`Idempotent-Replayed: true`, and changes nothing; the same key with another body, method or path is "
        "refused (422). Answers are kept for `IDEMPOTENCY_KEY_TTL_SECONDS` (24 h by default)."
    ),
    rules=StringConstraints(min_length=1, max_length=KEY_MAX_LENGTH, pattern=r"^[\x20-\x7E]+$"),
    examples=["6f1c0b1e-5d0b-4f37-9a44-8d2c1f0e7a55"],
)

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


def idempotent(
    request: KeyedRequest, answer: Callable[[T], Response], *, clock: Clock, ttl: timedelta
) -> IdempotentWrite[T]:
    """The use case's ``idempotency`` for a keyed request: ``answer`` makes the route's response to the use
    case's result, and is what gets stored (refusals get their problem answer)."""
    return IdempotentWrite(
        request,
        answer=lambda result: stored(answer(result)),
        refusal=lambda error: stored(refusal_problem(error)),
        clock=clock,
        ttl=ttl,
    )


async def _replay(_: Request, error: Exception) -> Response:
    assert isinstance(error, AlreadyAnswered)
    answer = error.response
    return Response(answer.body, status_code=answer.status, headers={**dict(answer.headers), REPLAYED_HEADER: "true"})


def install_replay(app: FastAPI) -> None:
    app.add_exception_handler(AlreadyAnswered, _replay)
