"""The readiness port, and the readiness check: can the service reach what it needs to answer requests?"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from application.errors import StorageUnavailable

log = logging.getLogger(__name__)


class ReadinessProbe(Protocol):
    async def check(self) -> None:
        """Return when the storage answers; raise ``StorageUnavailable`` when it does not."""


@dataclass(frozen=True)
class DependencyStatus:
    status: Literal["up", "down"]
    latency_ms: float
    error: str | None = None  # why it is down, in words fit for any client: the adapter's, never a driver's


@dataclass(frozen=True)
class Readiness:
    checks: Mapping[str, DependencyStatus]

    @property
    def ready(self) -> bool:
        return all(check.status == "up" for check in self.checks.values())


async def check_readiness(probes: Mapping[str, ReadinessProbe]) -> Readiness:
    """Ask every dependency at once; each answer comes with how long it took. A probe failing with anything
    but ``StorageUnavailable`` is a bug, and propagates."""
    names = list(probes)
    statuses = await asyncio.gather(*(_timed(name, probes[name]) for name in names))
    return Readiness(dict(zip(names, statuses, strict=True)))


async def _timed(name: str, probe: ReadinessProbe) -> DependencyStatus:
    started = time.perf_counter()
    try:
        await probe.check()
    except StorageUnavailable as error:
        latency_ms = _milliseconds_since(started)
        log.warning("readiness: %s is down (%s) after %.1f ms", name, error, latency_ms)
        return DependencyStatus("down", latency_ms, str(error) or "does not answer")
    return DependencyStatus("up", _milliseconds_since(started))


def _milliseconds_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
