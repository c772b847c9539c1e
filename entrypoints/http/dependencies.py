"""What a route gets from the composition root, as FastAPI dependencies: the adapters of the app that serves the
request, read from that app's container, so several apps with their own containers can live in one process.

Each is an ``async def``, so FastAPI calls it on the event loop (a plain function would take a trip through
the thread pool on every request); tests replace one with ``app.dependency_overrides``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, TypeVar, cast

from fastapi import Depends, Request, Response

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


async def unit_of_work(request: Request) -> UnitOfWork:
    return cast(UnitOfWork, _container(request).storage().unit_of_work())


async def user_queries(request: Request) -> UserQueries:
    return cast(UserQueries, _container(request).storage().user_queries())


async def readiness_probe(request: Request) -> ReadinessProbe:
    return cast(ReadinessProbe, _container(request).storage().readiness())


async def metrics(request: Request) -> Metrics:
    return _container(request).metrics()


def _key_scope(request: Request) -> str:
    """Whose idempotency keys these are: the token's subject (access_control.py put the principal on the
    request), so that one caller's key can never replay another's answer. With AUTH_DISABLED all share one."""
    principal = request.scope.get("state", {}).get("principal")
    return principal.subject if isinstance(principal, Principal) else ""


@dataclass(frozen=True, slots=True)
class Idempotency:
    """Makes the ``idempotency`` of a write route's use case from its request."""

    request: Request
    clock: Callable[[], datetime]
    ttl: timedelta

    def of(self, sent: Callable[[], object], answer: Callable[[T], Response]) -> IdempotentWrite[T] | None:
        """``None`` unless the request carries an ``Idempotency-Key`` (a 422 if it breaks the header's rules).
        ``sent`` gives what the client sent besides the method and path, as JSON values (only asked for when
        there is a key); ``answer`` makes the route's response to the use case's result."""
        request = self.request
        key = IDEMPOTENCY_KEY.read(request)
        if key is None:
            return None
        keyed = KeyedRequest(
            scope=_key_scope(request),
            key=key,
            method=request.method,
            path=request.url.path,
            fingerprint=fingerprint(sent()),
        )
        return idempotent(keyed, answer, clock=self.clock, ttl=self.ttl)


async def idempotency(request: Request) -> Idempotency:
    container = _container(request)
    ttl = timedelta(seconds=container.settings().idempotency_key_ttl_seconds)
    return Idempotency(request, container.clock(), ttl)


UnitOfWorkDep = Annotated[UnitOfWork, Depends(unit_of_work)]
UserQueriesDep = Annotated[UserQueries, Depends(user_queries)]
ReadinessDep = Annotated[ReadinessProbe, Depends(readiness_probe)]
MetricsDep = Annotated[Metrics, Depends(metrics)]
IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
