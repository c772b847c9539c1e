"""The benchmark harness keeps working: every app, every scenario, the scaling and the import steps on a tiny
load.

Not a timed test: it checks that the harness starts the four apps, drives each scenario with the Python load
generator (so that it does not depend on wrk being installed), gets only 2xx answers, and prints and writes
its results. `make bench` is the real run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import in_process
from benchmarks.load import LoadResult
from benchmarks.report import AppRun, Measurement, Report
from benchmarks.run import Options, run
from benchmarks.servers import APP_NAMES, APPS
from tests.databases import create_database, drop_database

pytestmark = pytest.mark.postgres

USERS = 500
REQUESTS = 200
DEPTHS = (10, 100, 450)
IMPORT_ROWS = 300


class SuiteDatabases:
    """The benchmark's throw-away databases, made and dropped the way the rest of the suite does it."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.created: list[str] = []
        self.dropped: list[str] = []

    async def create(self) -> str:
        url = await create_database(self.server_url)
        self.created.append(url)
        return url

    async def drop(self, url: str) -> None:
        await drop_database(self.server_url, url)
        self.dropped.append(url)


async def test_the_benchmark_runs_every_scenario_on_every_app_without_errors(
    postgres_server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    databases = SuiteDatabases(postgres_server_url)
    options = Options(
        users=USERS,
        duration=15,  # a cap: each run stops after REQUESTS requests, long before
        warmup=1,
        warmup_requests=20,
        connections=8,
        generator="python",
        max_requests=REQUESTS,
        scaling=True,
        scaling_depths=DEPTHS,
        scaling_repeats=3,
        import_rows=IMPORT_ROWS,
        import_server=postgres_server_url,
        results_dir=tmp_path,
    )

    report = await run(options, databases)

    printed = capsys.readouterr().out
    assert [run.app for run in report.runs] == list(APP_NAMES)
    for app_run in report.runs:
        assert app_run.peak_rss_bytes is not None
        assert app_run.peak_rss_bytes > 0
        assert set(app_run.measurements) == {scenario.key for scenario in report.scenarios}
        for key, measurement in app_run.measurements.items():
            load = measurement.load
            assert load.requests == REQUESTS, (app_run.app, key, load)
            assert load.errors == 0, (app_run.app, key, load.statuses)
            assert load.rps > 0
            assert 0 < load.p50_ms <= load.p99_ms
    assert [(scaling.app, [point.depth for point in scaling.points]) for scaling in report.scaling] == [
        (app, list(DEPTHS)) for app in APP_NAMES
    ]

    for scenario in report.scenarios:
        assert scenario.title in printed
    for app in APP_NAMES:
        assert APPS[app].title in printed
    assert "Peak RSS" in printed
    assert "List page (50 users) by depth" in printed
    assert report.bulk_import is not None
    assert (report.bulk_import.rows, report.bulk_import.created, report.bulk_import.created_again) == (
        IMPORT_ROWS,
        IMPORT_ROWS,
        0,
    )
    assert "Bulk import" in printed

    written = json.loads((tmp_path / "latest.json").read_text())
    assert [app["app"] for app in written["apps"]] == list(APP_NAMES)
    for app in written["apps"]:
        assert len(app["scenarios"]) == len(report.scenarios)
        assert all(result["errors"] == 0 for result in app["scenarios"].values())
        assert app["scenarios"]["get_by_id"]["ratio_to_ceiling"]["rps"] > 0
    assert len(written["scaling"]["apps"]) == len(APP_NAMES)
    assert (tmp_path / "latest.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    assert databases.created
    assert sorted(databases.dropped) == sorted(databases.created)


def _measurement(rps: float, errors: int = 0) -> Measurement:
    load = LoadResult(
        generator="python",
        requests=100,
        seconds=1.0,
        rps=rps,
        p50_ms=1.0,
        p90_ms=2.0,
        p99_ms=3.0,
        max_ms=4.0,
        non_2xx=errors,
        socket_errors=0,
        statuses={},
    )
    return Measurement(load)


def test_of_several_rounds_the_median_is_reported_and_every_error_counts() -> None:
    service = AppRun("service")
    for rps, errors in [(900.0, 0), (1200.0, 0), (700.0, 3)]:
        service.add_round("get_by_id", _measurement(rps, errors))

    assert service.measurements["get_by_id"].load.rps == 900.0
    assert [each.load.rps for each in service.rounds["get_by_id"]] == [900.0, 1200.0, 700.0]
    report = Report(meta={"rounds": 3}, scenarios=[], runs=[service])
    assert ("service: zero errors", "3 errors", False) in report.targets()


def test_the_in_process_measurement_times_every_scenario_of_both_apps(
    postgres_server_url: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", postgres_server_url)
    in_process.main(["--users", "300", "--requests", "20"])
    lines = [line.split() for line in capfd.readouterr().out.splitlines() if "CPU per request" in line]
    assert [(app, scenario) for app, scenario, *_ in lines] == [
        (app, scenario) for app in in_process.APPS for scenario in in_process.SCENARIOS
    ]
    assert all(float(figure) > 0 for _, _, figure, *_ in lines)
