"""GET /metrics: the service's metrics in the Prometheus text format (OpenMetrics if the scraper asks)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from entrypoints.http.dependencies import MetricsDep

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Metrics for Prometheus",
    responses={200: {"description": "Prometheus text exposition format", "content": {"text/plain": {}}}},
)
async def metrics(request: Request, registry: MetricsDep) -> Response:
    # Accept read from the request, not declared as a header parameter: a declared one would make FastAPI
    # publish a 422 that this route cannot give.
    body, content_type = registry.exposition(request.headers.get("accept"))
    return Response(body, media_type=content_type)
