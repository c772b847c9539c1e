"""The media types a write accepts: anything else is a 415 problem naming them, before the body is read."""

from __future__ import annotations

from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from entrypoints.http.problems import problem

JSON: Final = "application/json"
MERGE_PATCH: Final = "application/merge-patch+json"

# method -> the accepted media types and the header that advertises them (RFC 5789, RFC 9110).
_ACCEPTED: Final = {
    "POST": ((JSON,), "Accept-Post"),
    "PATCH": ((MERGE_PATCH, JSON), "Accept-Patch"),
}
_PATH: Final = "/users"


class MediaTypes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        accepted = _ACCEPTED.get(scope.get("method", "")) if scope["type"] == "http" else None
        if accepted is None or not scope["path"].startswith(_PATH):
            await self.app(scope, receive, send)
            return
        types, header = accepted
        headers = Headers(scope=scope)
        media_type, _, parameters = headers.get("content-type", "").partition(";")
        media_type = media_type.strip().lower()
        charset = _charset(parameters)
        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        if (media_type in types or (not media_type and not has_body)) and charset in (None, "utf-8"):
            await self.app(scope, receive, send)
            return
        given = f"Content-Type {media_type}" if media_type else "no Content-Type"
        if media_type in types:
            given = f"charset {charset}"
        response = problem(
            415,
            f"This request body must be {' or '.join(types)} in UTF-8 (got {given});"
            f" with curl, add -H 'content-type: {types[0]}'.",
            kind="unsupported-media-type",
            headers={header: ", ".join(types)},
        )
        await response(scope, receive, send)


def _charset(parameters: str) -> str | None:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None
