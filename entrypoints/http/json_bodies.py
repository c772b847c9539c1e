"""JSON bodies read strictly: an object that repeats a member name is refused, not read as its last value.

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
            self.strict_json = json.loads(await self.body(), object_pairs_hook=_unique_members)
        return self.strict_json


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
