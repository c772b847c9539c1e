"""The FastAPI application factory."""

from __future__ import annotations

from typing import Any

from dependency_injector.ext.starlette import Lifespan
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from entrypoints import __version__
from entrypoints.container import Container
from entrypoints.http import health, metrics, users
from entrypoints.http.access_control import AccessControl, document_access_control
from entrypoints.http.body_limit import BodyLimit
from entrypoints.http.docs import install_docs
from entrypoints.http.head_requests import HeadAsGet
from entrypoints.http.idempotency import install_replay
from entrypoints.http.json_bodies import StrictJsonRoute
from entrypoints.http.media_types import MediaTypes
from entrypoints.http.problems import documented_problem, install_problem_handlers
from entrypoints.http.request_context import HEADER, RequestContext
from entrypoints.http.schemas import problem_components
from entrypoints.http_protocol import MAX_HEADER_BYTES, MAX_TARGET_BYTES
from entrypoints.metrics import Metrics

MAX_BODY_BYTES = 1024 * 1024

_HEAD_LIMITS: dict[str, Any] = {
    "414": documented_problem(f"The request target is over {MAX_TARGET_BYTES} bytes"),
    "431": documented_problem(f"The header fields are over {MAX_HEADER_BYTES} bytes in all"),
}


class _ObservedFastAPI(FastAPI):
    """FastAPI with the request-context layer outermost, outside even Starlette's error middleware: the 500
    it sends gets the request id, is counted and access-logged like any other response. Its OpenAPI document
    also describes the problem+json bodies of the errors."""

    def __init__(self, *, metrics: Metrics, **options: Any) -> None:
        super().__init__(**options)
        self.metrics = metrics

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContext(super().build_middleware_stack(), metrics=self.metrics, routes=self.routes)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is not None:
            return self.openapi_schema
        schema = super().openapi()  # built once, then cached by FastAPI: this adds to the cached one
        # The routes' problem answers refer to these schemas by name.
        schema.setdefault("components", {}).setdefault("schemas", {}).update(problem_components())
        # The server refuses an oversized request head on any path, before the app sees it.
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.setdefault("responses", {}).update(_HEAD_LIMITS)
        return schema


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    for route in router.routes:
        assert isinstance(route, APIRoute)
        app.router.add_api_route(
            route.path,
            route.endpoint,
            methods=sorted(route.methods or ()),
            name=route.name,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=route.tags,
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=route.responses,
            response_class=route.response_class,
            include_in_schema=route.include_in_schema,
            openapi_extra=route.openapi_extra,
            deprecated=route.deprecated,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            route_class_override=StrictJsonRoute,
        )


def create_app(container: Container | None = None) -> FastAPI:
    """An app whose routes get their adapters from ``container`` (by default one configured from the
    environment). Several apps, each with its own container, can live in one process."""
    container = container if container is not None else Container()

    app = _ObservedFastAPI(
        metrics=container.metrics(),
        title="Users service",
        version=__version__,
        summary="Registers, finds, changes and deletes users.",
        # Starts and shuts down the chosen storage's resources (the SQL engine's connections).
        lifespan=Lifespan(container.storage()),
        # The service reports through its own metrics and logs; FastAPI's native OpenTelemetry would look up
        # the global providers on every request, to find none (docs/decisions/0005-request-path.md).
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # FastAPI's own docs pages load their script from a CDN; install_docs serves the service's copies.
        docs_url=None,
        redoc_url=None,
    )
    # The routers' routes on the app itself, without the layer per router that app.include_router() adds
    # (docs/decisions/0005-request-path.md); made for this app, so its dependency_overrides apply.
    for router in (health.router, users.router, metrics.router):
        _add_routes(app, router)
    install_docs(app)
    app.state.container = container
    install_problem_handlers(app)
    install_replay(app)
    settings = container.settings()
    # add_middleware puts each layer outside the ones before: CORS, then access control, then the body limit,
    # then HEAD served as GET, then the media types of writes.
    app.add_middleware(MediaTypes)
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(
        AccessControl,
        verifier=container.token_verifier(),
        write_limiter=container.write_limiter(),
        metrics_require_auth=settings.metrics_require_auth,
    )
    if settings.cors_origins():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins(),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key", HEADER],
            expose_headers=["ETag", "Location", "Retry-After", "WWW-Authenticate", HEADER],
            max_age=600,
        )
    document_access_control(app)
    return app
