"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from entrypoints.container import Container
from entrypoints.http import health, users
from entrypoints.http.body_limit import BodyLimit
from entrypoints.http.problems import install_problem_handlers

MAX_BODY_BYTES = 1024 * 1024


def create_app(container: Container | None = None) -> FastAPI:
    """An app wired to ``container`` (by default one configured from the environment).

    Wiring binds the route modules to this container, so one process serves one container at a time: a
    second ``create_app`` re-binds them to its own.
    """
    container = container if container is not None else Container()
    container.wire()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if container.settings().storage == "sql":
            await container.engine().dispose()

    app = FastAPI(
        title="Users service",
        version="0.1.0",
        summary="Registers, finds, changes and deletes users.",
        lifespan=lifespan,
    )
    app.state.container = container
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.include_router(health.router)
    app.include_router(users.router)
    return app
