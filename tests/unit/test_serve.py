"""What ``users-service serve`` does to the process before uvicorn takes over."""

from __future__ import annotations

import gc
import signal
from collections.abc import Iterator

import pytest
import uvicorn

from entrypoints.server import serve
from entrypoints.settings import MEMORY_URL, Settings


@pytest.fixture
def server_not_started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """``serve`` up to the point where uvicorn would run; yields the frozen-object counts seen at that point."""
    seen: list[int] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda _server: seen.append(gc.get_freeze_count()))
    handlers = {stop: signal.getsignal(stop) for stop in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield seen
    finally:
        gc.unfreeze()
        for stop, handler in handlers.items():
            signal.signal(stop, handler)


def test_the_objects_of_start_up_are_out_of_the_collectors_scans_before_the_first_request(
    server_not_started: list[int],
) -> None:
    gc.unfreeze()

    serve(Settings(database_url=MEMORY_URL, auth_disabled=True))

    # Under load, a scan of start-up's objects stopped the event loop for 80-140 ms every 1-2 s.
    (frozen,) = server_not_started
    assert frozen > 10_000
