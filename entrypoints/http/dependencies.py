"""What a route gets from the composition root: the adapters of the app that serves the request.

They read the container of that app (``app.state.container``) rather than a globally wired one, so several
apps with their own containers can live in one process (the tests make many). Routes call these directly
with their ``Request`` instead of declaring them as FastAPI dependencies: each declared dependency costs
FastAPI a full extra round of parameter solving on every request (request_headers.py has the figures).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar, cast

from fastapi import Request, Response

from application.idempotency import KeyedRequest
from application.idempotent_writes import IdempotentWrite
from application.queries import UserQueries
from application.readiness import ReadinessProbe
from application.unit_of_work import UnitOfWork
from entrypoints.container import Container
from entrypoints.http.idempotency import IDEMPOTENCY_KEY, fingerprint, idempotent
from entrypoints.metrics import Metrics
from entrypoints.tokens import Principal

T = TypeVar("T")


def _container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


def unit_of_work(request: Request) -> UnitOfWork:
    return cast(UnitOfWork, _container(request).storage().unit_of_work())


def user_queries(request: Request) -> UserQueries:
    return cast(UserQueries, _container(request).storage().user_queries())


def readiness_probe(request: Request) -> ReadinessProbe:
    return cast(ReadinessProbe, _container(request).storage().readiness())


def metrics(request: Request) -> Metrics:
    return _container(request).metrics()


def _key_scope(request: Request) -> str:
    """Whose idempotency keys these are: the token's subject (access_control.py put the principal on the
    request), so that one caller's key can never replay another's answer. With AUTH_DISABLED all share one."""
    principal = request.scope.get("state", {}).get("principal")
    return principal.subject if isinstance(principal, Principal) else ""


def idempotent_write(
    request: Request, sent: Callable[[], object], answer: Callable[[T], Response]
) -> IdempotentWrite[T] | None:
    """The ``idempotency`` of a write route's use case: ``None`` unless the request carries an
    ``Idempotency-Key`` (a 422 if it breaks the header's rules). ``sent`` gives what the client sent besides
    the method and path, as JSON values (only asked for when there is a key); ``answer`` makes the route's
    response to the use case's result."""
    key = IDEMPOTENCY_KEY.read(request)
    if key is None:
        return None
    container = _container(request)
    keyed = KeyedRequest(
        scope=_key_scope(request),
        key=key,
        method=request.method,
        path=request.url.path,
        fingerprint=fingerprint(sent()),
    )
    ttl = timedelta(seconds=container.settings().idempotency_key_ttl_seconds)
    return idempotent(keyed, answer, clock=container.clock(), ttl=ttl)
