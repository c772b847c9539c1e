"""Bound request bodies: over a size limit a 413 problem, not received within a deadline a 408 problem.

FastAPI's own ``max_body_size`` answers a too-large declared Content-Length in plain text, from a layer
outside our error handlers; this middleware keeps the answer a problem+json like every other error. The
deadline runs from the app's first read of the body to its last byte, so a client that sends less than its
Content-Length, or dribbles it, holds a connection for that long at most.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.problems import problem

_DETAIL = "The request body is larger than the service accepts ({limit} bytes)."
_TIMEOUT_DETAIL = (
    "The request body did not arrive within {seconds:g} s; send all of it, as many bytes as Content-Length says."
)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_seconds = read_timeout_seconds
        self._detail = _DETAIL.format(limit=max_bytes)
        self._timeout_detail = _TIMEOUT_DETAIL.format(seconds=read_timeout_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = self._detail
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            # Refused before a byte of the body is read.
            await problem(413, detail)(scope, receive, send)
            return
        received = 0
        deadline: float | None = None
        complete = False

        async def limited_receive() -> Message:
            nonlocal received, deadline, complete
            if complete:  # the body is in: later reads wait for a disconnect, without a deadline
                return await receive()
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + self.read_timeout_seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                # Raised inside the route's body read, so the problem handler answers it; the connection is
                # closed after the answer, as the rest of the body may still be on its way.
                raise HTTPException(408, self._timeout_detail, headers={"Connection": "close"}) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body read, so the problem handler answers it.
                    raise HTTPException(413, detail)
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
