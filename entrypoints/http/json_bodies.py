"""JSON bodies read strictly: an object that repeats a member name is refused, not read as its last value, and
a body in UTF-16 or UTF-32, or with a byte order mark, is refused instead of decoded (the API speaks UTF-8).

FastAPI's documented way to change how a body is read: a route class whose handler gets a Request subclass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class DuplicateMember(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class NotUtf8(ValueError):
    """The body is JSON in another encoding than UTF-8, or starts with a byte order mark: ``found`` says which."""

    def __init__(self, found: str) -> None:
        super().__init__(found)
        self.found = found


# Longest first: the UTF-32 little-endian mark starts with the UTF-16 one.
_BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xef\xbb\xbf", "UTF-8 with a byte order mark"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _other_encoding(body: bytes) -> str | None:
    """The encoding ``body`` is in, if it is not plain UTF-8. JSON text starts with an ASCII character, so a
    zero byte among the first four means UTF-16 (one zero per character) or UTF-32 (three)."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if body.startswith(mark):
            return encoding
    start = body[:4]
    if b"\x00" in start:
        return "UTF-32" if start.count(b"\x00") >= 3 else "UTF-16"
    return None


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name, value in pairs:
        if name in members:
            raise DuplicateMember(name)
        members[name] = value
    return members


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "strict_json"):
            body = await self.body()
            encoding = _other_encoding(body)
            if encoding is not None:
                raise NotUtf8(encoding)
            self.strict_json = json.loads(body, object_pairs_hook=_unique_members)
        return self.strict_json


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
