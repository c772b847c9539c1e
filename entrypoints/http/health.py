"""Liveness and readiness, for orchestrators and load balancers."""

# No `from __future__ import annotations`: dependency-injector reads the Annotated markers at import time.
from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends

from application.readiness import ReadinessProbe
from entrypoints.container import Container
from entrypoints.http.schemas import Status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status, summary="Liveness: the process is up")
async def healthz() -> Status:
    return Status(status="ok")


@router.get(
    "/readyz",
    response_model=Status,
    summary="Readiness: the database answers",
    responses={503: {"description": "The database does not answer (problem+json)"}},
)
@inject
async def readyz(probe: Annotated[ReadinessProbe, Depends(Provide[Container.readiness])]) -> Status:
    await probe.check()  # StorageUnavailable becomes the 503 problem
    return Status(status="ready")
