"""How often one client may write: a token bucket per client, in this process.

Each client's bucket holds up to ``burst`` tokens and refills at ``rate`` per second; a write takes one. The
buckets live in this process, so with N replicas a client may write N times as fast: a limit shared by all
replicas needs a shared store (a Redis ``INCR``/``EXPIRE`` window, or the gateway in front), see docs/operations.md.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from entrypoints.settings import Settings


class WriteRateLimiter:
    # Idle clients are forgotten oldest-first beyond this many: the memory is bounded whoever calls.
    MAX_CLIENTS: Final = 100_000

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, as of)

    def wait_before_next(self, client: str) -> float:
        """Take a token for ``client``: 0 if it may write now, else the seconds until it may."""
        now = self._clock()
        tokens, as_of = self._buckets.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - as_of) * self._rate)
        if tokens >= 1:
            self._buckets[client] = (tokens - 1, now)
            wait = 0.0
        else:
            self._buckets[client] = (tokens, now)
            wait = (1 - tokens) / self._rate
        if len(self._buckets) > self.MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return wait


def retry_after(wait: float) -> str:
    """The Retry-After value for a wait: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait)))


def write_limiter_from_settings(settings: Settings) -> WriteRateLimiter | None:
    """The limiter the settings describe; ``None`` when RATE_LIMIT_WRITES_PER_SECOND is 0."""
    if settings.rate_limit_writes_per_second == 0:
        return None
    return WriteRateLimiter(settings.rate_limit_writes_per_second, settings.rate_limit_write_burst)
