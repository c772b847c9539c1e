"""Every error the API returns is an RFC 9457 problem (``application/problem+json``), built here only.

Each handler turns one kind of failure into one status. Nothing from the exception's internals (stack,
SQL, driver text) is copied into a response: only messages written for clients.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from application.errors import PreconditionFailed, StorageUnavailable
from application.idempotency import IdempotencyKeyReused
from domain.errors import EmailTaken, FieldError, InvalidUser, UsernameTaken, UserNotFound, VersionConflict
from entrypoints.http.json_bodies import DuplicateMember, NotUtf8

PROBLEM_JSON = "application/problem+json"
_TYPE_PREFIX = "urn:users-service:problem:"

log = logging.getLogger(__name__)


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[FieldError] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """The problem response; ``extensions`` are extra members (RFC 9457 section 3.2) such as ``checks``."""
    body: dict[str, Any] = {
        # about:blank means "nothing more than the HTTP status"; our own kinds get a stable URN.
        "type": f"{_TYPE_PREFIX}{kind}" if kind else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = [{"field": error.field, "message": error.message} for error in errors]
    if extensions is not None:
        assert body.keys().isdisjoint(extensions), "an extension cannot replace a standard member"
        body.update(extensions)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def documented_problem(
    description: str, *, schema: str = "Problem", headers: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A route's ``responses=`` entry for a problem answer: FastAPI alone would publish no body for it, or
    FastAPI's own validation error under ``application/json``, neither of which the client gets."""
    documentation: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if headers is not None:
        documentation["headers"] = dict(headers)
    return documentation


def _field_of(location: Sequence[int | str]) -> str:
    """("body", "username") -> "username", ("query", "limit") -> "limit", ("body",) -> "body"."""
    if len(location) < 2:
        return ".".join(str(part) for part in location) or "request"
    if location[0] == "body" and isinstance(location[1], int):
        return "body"  # a JSON syntax error at that offset: no field to name
    return ".".join(str(part) for part in location[1:])


async def _request_invalid(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = []
    for item in error.errors():
        message = str(item.get("msg", "is invalid"))
        if item.get("type") == "json_invalid":
            message = f"is not valid JSON ({item.get('ctx', {}).get('error', 'syntax error')})"
        errors.append(FieldError(_field_of(item.get("loc", ())), message))
    return problem(422, "The request is not valid.", kind="validation", errors=errors)


def _unreadable_body(error: HTTPException) -> str | None:
    """Why FastAPI could not read a JSON body, if that is what this 400 is; ``None`` for any other error.

    FastAPI answers a JSON syntax error with a validation error (our 422), but a body that breaks its JSON
    reader in another way with a bare 400, the reader's exception as its cause. To a client both are the same
    mistake, so both get the same 422; the reader's own words (Python advice) are not passed on."""
    if error.status_code != 400:
        return None
    cause = error.__cause__
    if isinstance(cause, DuplicateMember):
        return f"repeats the member {json.dumps(cause.name)}; give each member once"
    if isinstance(cause, UnicodeError):
        return "is not valid JSON (not UTF-8)"
    if isinstance(cause, RecursionError):
        return "cannot be read as JSON (nested too deeply)"
    if isinstance(cause, ValueError):  # Python's limit on the digits of an integer
        return "cannot be read as JSON (a number has too many digits)"
    return None


# What the access log and metrics show for a request whose client went away, or whose body came too late,
# before it was answered (nginx's "client closed request"); the answer reaches no one.
CLIENT_GONE = 499


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    if isinstance(error.__cause__, ClientDisconnect):
        return JSONResponse(None, status_code=CLIENT_GONE)
    if isinstance(error.__cause__, NotUtf8):
        # The media type is right, its encoding is not: RFC 9110 (15.5.16) makes that a 415 too, as the
        # media-type check does for a charset other than UTF-8.
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower() or "application/json"
        return problem(
            415,
            f"This request body must be {media_type} in UTF-8 without a byte order mark"
            f" (got {error.__cause__.found}); encode it as UTF-8.",
            kind="unsupported-media-type",
        )
    unreadable = _unreadable_body(error)
    if unreadable is not None:
        return problem(422, "The request is not valid.", kind="validation", errors=[FieldError("body", unreadable)])
    phrase = HTTPStatus(error.status_code).phrase
    detail = (
        error.detail
        if isinstance(error.detail, str) and error.detail != phrase
        else _DETAILS.get(error.status_code, phrase)
    )
    headers = error.headers
    if error.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return problem(error.status_code, detail, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method of every route on the request's path (each route holds its own), HEAD wherever GET is."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


_DETAILS = {
    404: "There is nothing at this path.",
    405: "This path does not accept this method.",
}


def _key_reused(error: IdempotencyKeyReused) -> JSONResponse:
    other = "a request with another body" if error.same_route else "another method or path"
    return problem(
        422,
        f"This Idempotency-Key was used for {other}; use a new key for a new request.",
        kind="idempotency-key-reused",
    )


# The refusals of the domain and the application, each with its answer, built from the error alone: an
# idempotent write records the answer it was refused with (entrypoints/http/idempotency.py).
_REFUSALS: dict[type[Exception], Callable[[Any], JSONResponse]] = {
    InvalidUser: lambda error: problem(422, "The user is not valid.", kind="validation", errors=error.errors),
    UserNotFound: lambda _: problem(404, "No user has this id.", kind="user-not-found"),
    UsernameTaken: lambda _: problem(409, "This username is already taken.", kind="username-taken"),
    EmailTaken: lambda _: problem(409, "This email address is already registered.", kind="email-taken"),
    VersionConflict: lambda _: problem(409, "The user is being changed by others; try again.", kind="version-conflict"),
    PreconditionFailed: lambda _: problem(
        412, "The user has changed since the version given in If-Match.", kind="precondition-failed"
    ),
    IdempotencyKeyReused: _key_reused,
}


def refusal_problem(error: Exception) -> JSONResponse:
    """The answer to a refusal of the domain or the application (``KeyError`` for any other error)."""
    return _REFUSALS[type(error)](error)


async def _refused(_: Request, error: Exception) -> JSONResponse:
    return refusal_problem(error)


async def _storage_unavailable(_: Request, error: Exception) -> JSONResponse:
    return problem(
        503, "The database is unavailable; try again shortly.", kind="unavailable", headers={"Retry-After": "1"}
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # The route template, not the path: what a client put in the path is not copied into the log.
    route = getattr(request.scope.get("route"), "path_format", "<unmatched>")
    log.error("unhandled error on %s %s", request.method, route, exc_info=error)
    return problem(500, "An unexpected error occurred.")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(HTTPException, _http_error)
    for refusal in _REFUSALS:
        app.add_exception_handler(refusal, _refused)
    app.add_exception_handler(StorageUnavailable, _storage_unavailable)
    app.add_exception_handler(Exception, _unexpected)
