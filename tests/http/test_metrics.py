"""GET /metrics: Prometheus text that parses, counters and latencies that follow the traffic, labelled by route
template only, the database pool when there is one, and the build."""

from __future__ import annotations

import platform

import httpx
import pytest
from dependency_injector import providers
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from entrypoints import __version__
from entrypoints.container import Container
from tests.auth import app_settings
from tests.backends import Backend

_REQUESTS = "users_service_http_requests_total"
_DURATION = "users_service_http_request_duration_seconds"
_POOL = (
    "users_service_db_pool_connections_in_use",
    "users_service_db_pool_connections_idle",
    "users_service_db_pool_size",
    "users_service_db_pool_overflow",
)
_UNKNOWN_ID = "01a20000-0000-7000-8000-000000000000"


async def _scrape(client: httpx.AsyncClient) -> list[Sample]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sample's value; 0 for a series that does not exist yet."""
    for sample in samples:
        if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items()):
            return sample.value
    return 0.0


async def test_requests_are_counted_and_timed_by_route_template(client: httpx.AsyncClient) -> None:
    labels = {"method": "GET", "route": "/users/{user_id}", "status": "404"}
    before = await _scrape(client)
    for _ in range(7):
        assert (await client.get(f"/users/{_UNKNOWN_ID}")).status_code == 404
    after = await _scrape(client)

    assert _value(after, _REQUESTS, **labels) - _value(before, _REQUESTS, **labels) == 7
    assert _value(after, f"{_DURATION}_count", **labels) - _value(before, f"{_DURATION}_count", **labels) == 7
    assert _value(after, f"{_DURATION}_sum", **labels) > _value(before, f"{_DURATION}_sum", **labels)
    assert _value(after, f"{_DURATION}_bucket", **labels, le="+Inf") == _value(after, f"{_DURATION}_count", **labels)
    # The scrape itself is counted too, under its own template.
    assert _value(after, _REQUESTS, method="GET", route="/metrics", status="200") >= 1


async def test_label_values_are_bounded_by_the_routes(client: httpx.AsyncClient) -> None:
    for path in ("/a", "/b/c", "/users/x/y", "/?email=someone@example.com"):
        await client.get(path)
    await client.request("BREW", "/users")
    samples = await _scrape(client)

    requests = [sample for sample in samples if sample.name == _REQUESTS]
    assert _value(samples, _REQUESTS, method="GET", route="<unmatched>", status="404") == 4
    assert _value(samples, _REQUESTS, method="OTHER", route="/users", status="405") == 1
    routes = {sample.labels["route"] for sample in requests}
    assert routes <= {"<unmatched>", "/users", "/users/{user_id}", "/metrics", "/healthz", "/readyz"}
    assert not any("example.com" in str(sample.labels) for sample in samples)


async def test_the_build_is_described(client: httpx.AsyncClient) -> None:
    samples = await _scrape(client)
    [build] = [sample for sample in samples if sample.name == "users_service_build_info"]
    assert build.labels == {"version": __version__, "python": platform.python_version()}
    assert build.value == 1


async def test_the_database_pool_is_reported_on_sql_storage(client: httpx.AsyncClient, backend: Backend) -> None:
    assert (await client.get("/users")).status_code == 200  # a connection was opened, used and given back
    samples = await _scrape(client)
    names = {sample.name for sample in samples}
    if backend.database is None:
        assert names.isdisjoint(_POOL)  # memory: no pool to report
        return
    assert set(_POOL) <= names
    assert _value(samples, "users_service_db_pool_connections_in_use") == 0
    assert _value(samples, "users_service_db_pool_connections_idle") >= 1
    assert _value(samples, "users_service_db_pool_overflow") >= 0

    # Read at scrape time: follows what is in use now.
    assert _value(samples, "users_service_db_pool_size") == backend.database.engine.pool.size()  # type: ignore[attr-defined]
    async with backend.database.connection() as connection:
        await connection.exec_driver_sql("SELECT 1")
        assert _value(await _scrape(client), "users_service_db_pool_connections_in_use") == 1
    assert _value(await _scrape(client), "users_service_db_pool_connections_in_use") == 0


@pytest.mark.memory
async def test_openmetrics_is_served_to_scrapers_that_ask(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_each_container_has_a_registry_of_its_own() -> None:
    # Several apps in one process (as in this test run) never share or collide on a metric.
    first, second = Container(), Container()
    for container in (first, second):
        container.settings.override(providers.Object(app_settings(database_url="memory://")))
    first.metrics().observe_request("GET", "/healthz", 200, 0.001)
    assert first.metrics() is first.metrics()
    assert first.metrics().registry is not second.metrics().registry
    assert (
        first.metrics().registry.get_sample_value(_REQUESTS, {"method": "GET", "route": "/healthz", "status": "200"})
        == 1
    )
    assert (
        second.metrics().registry.get_sample_value(_REQUESTS, {"method": "GET", "route": "/healthz", "status": "200"})
        is None
    )
