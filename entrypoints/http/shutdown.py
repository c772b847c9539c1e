"""Requests cut off by shutdown get a 503 problem instead of the server's bare text 500.

When the graceful-shutdown period runs out, uvicorn cancels the requests still running. A request that has
not started its response by then is answered here: 503 with Retry-After, so that a client (or a load
balancer) retries it on another replica. Its unit of work was never committed, so retrying is safe.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.problems import problem


class AnswerCancelledRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if not started:
                response = problem(
                    503, "The service is shutting down; retry the request.", headers={"Retry-After": "1"}
                )
                await response(scope, receive, send)
            raise
