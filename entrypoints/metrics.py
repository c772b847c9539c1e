"""The service's Prometheus metrics, in a registry of its own (never the process-global one, so that several
apps in one process do not collide).

- ``users_service_http_requests_total`` and ``users_service_http_request_duration_seconds``, labelled by
  method, route template (``/users/{user_id}``, ``<unmatched>`` for unknown paths) and status: the label
  values are bounded by the routes, never by what clients send;
- ``users_service_db_pool_connections_in_use`` / ``_idle``, ``users_service_db_pool_size`` and
  ``users_service_db_pool_overflow``, read from the connection pool when scraped (SQL storage only);
- ``users_service_build_info{version, python}``;
- the ``process_*`` metrics (CPU, memory, file descriptors) of the serving process.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy.pool import QueuePool

from adapters.sqlalchemy import Database

_LABELS = ("method", "route", "status")
# Most requests take a few milliseconds: finer buckets at the low end than the client library's defaults.
_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class PoolGauges:
    in_use: int
    idle: int
    size: int
    overflow: int


def database_pool_gauges(database: Callable[[], Database]) -> Callable[[], PoolGauges | None]:
    """The gauges of the pool of the engine that ``database`` gives, read at each scrape (a pool that was
    disposed and re-created is still the one read)."""

    def read() -> PoolGauges | None:
        pool = database().engine.pool
        if not isinstance(pool, QueuePool):
            return None
        return PoolGauges(pool.checkedout(), pool.checkedin(), pool.size(), max(pool.overflow(), 0))

    return read


class Metrics:
    def __init__(self, *, version: str, database_pool: Callable[[], PoolGauges | None] | None = None) -> None:
        """``database_pool`` reads the connection pool's gauges at each scrape; ``None`` for storage without
        a pool."""
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "users_service_http_requests",
            "HTTP requests answered, by method, route template and status.",
            _LABELS,
            registry=self.registry,
        )
        self._durations = Histogram(
            "users_service_http_request_duration_seconds",
            "Time from receiving an HTTP request to the end of its response.",
            _LABELS,
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        # One (counter, histogram) child pair per label combination, looked up without the client library's
        # label validation on every request.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        Info("users_service_build", "The running version of the service.", registry=self.registry).info(
            {"version": version, "python": platform.python_version()}
        )
        ProcessCollector(registry=self.registry)
        if database_pool is not None:
            self.registry.register(_PoolCollector(database_pool))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            labels = (method, route, str(status))
            children = self._children[key] = (self._requests.labels(*labels), self._durations.labels(*labels))
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The current values, in the format ``accept`` asks for (Prometheus text unless it asks for
        OpenMetrics), and that format's content type."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type


class _PoolCollector:
    """The database connection pool, read when scraped."""

    def __init__(self, read: Callable[[], PoolGauges | None]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        gauges = self._read()
        return [] if gauges is None else self._families(gauges)

    @staticmethod
    def _families(gauges: PoolGauges | None) -> list[Metric]:
        def gauge(name: str, documentation: str, read: Callable[[PoolGauges], int]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, documentation, value=None if gauges is None else read(gauges))

        return [
            gauge(
                "users_service_db_pool_connections_in_use",
                "Database connections checked out of the pool, serving a unit of work.",
                lambda pool: pool.in_use,
            ),
            gauge(
                "users_service_db_pool_connections_idle",
                "Database connections open and waiting in the pool.",
                lambda pool: pool.idle,
            ),
            gauge("users_service_db_pool_size", "Connections the pool keeps open once opened.", lambda pool: pool.size),
            gauge(
                "users_service_db_pool_overflow",
                "Connections open beyond the pool size (at most DB_MAX_OVERFLOW).",
                lambda pool: pool.overflow,
            ),
        ]
