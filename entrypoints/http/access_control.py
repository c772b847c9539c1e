"""Who may call what, and how often: bearer tokens, scopes and the write rate limit, in one ASGI layer.

It runs before routing and before any body is read, so a caller without a valid token learns nothing: not
whether a user exists (the same 401 for every path under /users), not even whether the body would parse.

- ``/users``: GET and HEAD need the ``users:read`` scope, other methods ``users:write``; ``/metrics`` needs
  ``metrics:read`` when METRICS_REQUIRE_AUTH is set; health, readiness and the API description stay open.
- No token, or one that does not verify: 401 with ``WWW-Authenticate: Bearer`` (RFC 6750, with
  ``error="invalid_token"`` when a token was given); valid token without the scope: 403 naming the scope.
- Writes beyond the client's allowance (per token subject): 429 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from entrypoints.http.problems import problem
from entrypoints.http.rate_limits import WriteRateLimiter, retry_after
from entrypoints.tokens import METRICS_SCOPE, READ_SCOPE, WRITE_SCOPE, InvalidToken, TokenVerifier

REALM: Final = "users-service"
_READ_METHODS: Final = frozenset({"GET", "HEAD"})


def required_scope(method: str, path: str, *, metrics_require_auth: bool) -> str | None:
    """The scope a request needs, or ``None`` for the open paths."""
    if path == "/users" or path.startswith("/users/"):
        return READ_SCOPE if method in _READ_METHODS else WRITE_SCOPE
    if metrics_require_auth and path == "/metrics":
        return METRICS_SCOPE
    return None


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if kind.lower() == "bearer" and token else None
    return None


class AccessControl:
    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier | None,
        write_limiter: WriteRateLimiter | None,
        metrics_require_auth: bool,
    ) -> None:
        self.app = app
        self._verifier = verifier
        self._write_limiter = write_limiter
        self._metrics_require_auth = metrics_require_auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed = required_scope(scope["method"], scope["path"], metrics_require_auth=self._metrics_require_auth)
        if needed is None:
            await self.app(scope, receive, send)
            return
        if self._verifier is None:  # AUTH_DISABLED: every caller may do everything, at the client address's pace
            client = scope.get("client")
            await self._limited(needed, client[0] if client else "unknown", scope, receive, send)
            return
        token = _bearer_token(scope)
        if token is None:
            challenge = f'Bearer realm="{REALM}"'
            denied = problem(401, "A bearer token is required.", kind="unauthenticated", headers=_www(challenge))
            await denied(scope, receive, send)
            return
        try:
            principal = self._verifier.verify(token)
        except InvalidToken as error:
            challenge = f'Bearer realm="{REALM}", error="invalid_token", error_description="{error.reason}"'
            denied = problem(
                401, f"The bearer token is not valid: {error.reason}.", kind="unauthenticated", headers=_www(challenge)
            )
            await denied(scope, receive, send)
            return
        if needed not in principal.scopes:
            challenge = f'Bearer realm="{REALM}", error="insufficient_scope", scope="{needed}"'
            forbidden = problem(
                403, f"The token does not grant the {needed} scope.", kind="forbidden", headers=_www(challenge)
            )
            await forbidden(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self._limited(needed, principal.subject, scope, receive, send)

    async def _limited(self, needed: str, client: str, scope: Scope, receive: Receive, send: Send) -> None:
        if needed == WRITE_SCOPE and self._write_limiter is not None:
            wait = self._write_limiter.wait_before_next(client)
            if wait > 0:
                limited = problem(
                    429,
                    "Too many writes from this client; retry after the time in Retry-After.",
                    kind="rate-limited",
                    headers={"Retry-After": retry_after(wait)},
                )
                await limited(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _www(challenge: str) -> dict[str, str]:
    return {"WWW-Authenticate": challenge}


_PROBLEM_RESPONSE: Final = {
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
}


def document_access_control(app: FastAPI) -> None:
    """Declare in the API description what this layer enforces (it is not a FastAPI dependency, so FastAPI
    cannot see it): the bearer scheme on every /users operation, and its 401, 403 and 429 answers."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": f"Scopes (scope claim): {READ_SCOPE} for GET, {WRITE_SCOPE} for other methods.",
        }
        components.setdefault("schemas", {}).setdefault("Problem", _PROBLEM_SCHEMA)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                scope = required_scope(method.upper(), path, metrics_require_auth=False)
                if scope is None:
                    continue
                operation["security"] = [{"bearer": []}]
                responses = operation.setdefault("responses", {})
                responses.setdefault("401", {"description": "No valid bearer token", **_PROBLEM_RESPONSE})
                responses.setdefault("403", {"description": f"The token lacks {scope}", **_PROBLEM_RESPONSE})
                if scope == WRITE_SCOPE:
                    responses.setdefault(
                        "429", {"description": "Too many writes from this client", **_PROBLEM_RESPONSE}
                    )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


_PROBLEM_SCHEMA: Final = {
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}
