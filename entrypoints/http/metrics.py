"""GET /metrics: the service's metrics in the Prometheus text format (OpenMetrics if the scraper asks)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from entrypoints.http.dependencies import MetricsDep

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Metrics for Prometheus",
    responses={200: {"description": "Prometheus text exposition format", "content": {"text/plain": {}}}},
)
async def metrics(
    registry: MetricsDep,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    body, content_type = registry.exposition(accept)
    return Response(body, media_type=content_type)
