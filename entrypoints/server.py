"""Runs the API under uvicorn, with a graceful shutdown that orchestrators can rely on."""

from __future__ import annotations

import signal

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from entrypoints.collector import freeze_startup_objects
from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.http_protocol import bounded_http_protocol
from entrypoints.settings import Settings


class CannotListen(Exception):
    """The server did not start: HOST:PORT cannot be listened on (in use, not an address of this machine);
    uvicorn has logged why."""


def serve(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting, let in-flight requests finish (for at most
    ``shutdown_grace_seconds``), close the database pool and return, so that the process exits 0."""
    container = Container()
    container.settings.override(settings)
    config = uvicorn.Config(
        create_app(container),
        host=settings.host,
        port=settings.port,
        # httptools, with bounds on request heads and bodies and problem answers (entrypoints/http_protocol.py);
        # the API has no WebSocket routes, so no upgrade is offered.
        http=bounded_http_protocol(settings.body_read_timeout_seconds),
        ws="none",
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        server_header=False,
        log_config=None,  # logging is configured by the caller (entrypoints.logs)
        access_log=False,  # one access-log line per request comes from our own middleware
    )
    freeze_startup_objects()
    # uvicorn re-raises the signal it shut down on, which would end the process with "killed by SIGTERM". A
    # handler of ours in place beforehand receives that re-raise instead: a finished shutdown exits 0.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: None)
    try:
        uvicorn.Server(config).run()
    except SystemExit as stop:
        # uvicorn ends the process itself when it cannot start; the caller chooses the exit code.
        if stop.code == STARTUP_FAILURE:
            raise CannotListen(f"{settings.host}:{settings.port}") from None
        raise
