"""GET /metrics: the service's metrics in the Prometheus text format (OpenMetrics if the scraper asks)."""

# No `from __future__ import annotations`: dependency-injector reads the Annotated markers at import time.
from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends, Header, Response

from entrypoints.container import Container
from entrypoints.metrics import Metrics

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Metrics for Prometheus",
    responses={200: {"description": "Prometheus text exposition format", "content": {"text/plain": {}}}},
)
@inject
async def metrics(
    registry: Annotated[Metrics, Depends(Provide[Container.metrics])],
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    body, content_type = registry.exposition(accept)
    return Response(body, media_type=content_type)
