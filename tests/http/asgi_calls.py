"""Calling the app as a server would: exactly the given headers, the body from the caller's ``receive``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from starlette.types import ASGIApp, Message


def http_scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def call_app(
    app: ASGIApp, method: str, path: str, headers: dict[str, str], receive: Callable[[], Awaitable[Message]]
) -> httpx.Response:
    """The app's answer to one request, collected from what it sends."""
    answer: dict[str, Any] = {"body": b""}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = message["headers"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(http_scope(method, path, headers), receive, send)
    return httpx.Response(answer["status"], headers=answer["headers"], content=answer["body"])
