"""What a route gets from the composition root, as FastAPI dependencies.

They read the container of the app that serves the request (``app.state.container``) rather than a globally
wired one, so several apps with their own containers can live in one process (the tests make many). They are
``async`` on purpose: FastAPI runs a sync dependency in a worker thread, a thread hop on every request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, cast

from fastapi import Depends, Request

from application.queries import UserQueries
from application.readiness import ReadinessProbe
from application.unit_of_work import UnitOfWork
from entrypoints.container import Container
from entrypoints.http.idempotency import IdempotencyKey, IdempotencyKeys
from entrypoints.metrics import Metrics
from entrypoints.tokens import Principal


def _container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


async def _unit_of_work(request: Request) -> UnitOfWork:
    return cast(UnitOfWork, _container(request).unit_of_work())


async def _user_queries(request: Request) -> UserQueries:
    return cast(UserQueries, _container(request).user_queries())


async def _readiness_probe(request: Request) -> ReadinessProbe:
    return cast(ReadinessProbe, _container(request).readiness())


async def _metrics(request: Request) -> Metrics:
    return _container(request).metrics()


def _key_scope(request: Request) -> str:
    """Whose idempotency keys these are: the token's subject (access_control.py put the principal on the
    request), so that one caller's key can never replay another's answer. With AUTH_DISABLED all share one."""
    principal = request.scope.get("state", {}).get("principal")
    return principal.subject if isinstance(principal, Principal) else ""


async def _idempotency_keys(request: Request, key: IdempotencyKey = None) -> IdempotencyKeys:
    container = _container(request)
    return IdempotencyKeys(
        key=key,
        scope=_key_scope(request),
        method=request.method,
        path=request.url.path,
        clock=container.clock(),
        ttl=timedelta(seconds=container.settings().idempotency_key_ttl_seconds),
    )


UnitOfWorkDep = Annotated[UnitOfWork, Depends(_unit_of_work)]
UserQueriesDep = Annotated[UserQueries, Depends(_user_queries)]
ReadinessProbeDep = Annotated[ReadinessProbe, Depends(_readiness_probe)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
IdempotencyKeysDep = Annotated[IdempotencyKeys, Depends(_idempotency_keys)]
