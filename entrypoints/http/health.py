"""Liveness and readiness, for orchestrators and load balancers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from application.readiness import check_readiness
from entrypoints.http.dependencies import ReadinessDep
from entrypoints.http.problems import PROBLEM_JSON, problem
from entrypoints.http.schemas import DependencyCheck, NotReadyProblem, ReadinessOut, Status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status, summary="Liveness: the process is up")
async def healthz() -> Status:
    return Status(status="ok")


def _not_ready_schema() -> dict[str, Any]:
    # Published under problem+json (FastAPI would put a `model` under application/json); its nested
    # DependencyCheck is the one the 200 answer already puts in the components.
    schema = NotReadyProblem.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


@router.get(
    "/readyz",
    response_model=ReadinessOut,
    response_model_exclude_none=True,
    summary="Readiness: every dependency answers",
    responses={
        503: {
            "description": "A dependency does not answer (problem+json, with `checks`)",
            "content": {PROBLEM_JSON: {"schema": _not_ready_schema()}},
        }
    },
)
async def readyz(probe: ReadinessDep) -> Any:
    readiness = await check_readiness({"database": probe})
    checks = DependencyCheck.all_of(readiness)
    if not readiness.ready:
        return problem(
            503,
            "The service is not ready: a dependency does not answer.",
            kind="unavailable",
            headers={"Retry-After": "1"},
            extensions={"checks": {name: check.model_dump(exclude_none=True) for name, check in checks.items()}},
        )
    return ReadinessOut(status="ready", checks=checks)
