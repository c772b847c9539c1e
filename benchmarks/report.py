"""The results: what was measured (dataclasses), the printed tables, latest.json and the PNG chart."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, get_args

from benchmarks.import_users import IMPORT_TARGET_SECONDS, ImportFigures
from benchmarks.load import LoadResult
from benchmarks.scenarios import Scenario, ScenarioKey
from benchmarks.servers import APPS, AppName

MB = 1_000_000
RSS_TARGET_MB = 150
FLAT_LIMIT = 1.5
NOISY_CPUS = 0.2


@dataclass
class Measurement:
    """One app under one scenario."""

    load: LoadResult
    server_cpu_ms_per_request: float | None = None
    """CPU time of the app's process per request (both cores' worth counts)."""
    postgres_cpu_ms_per_request: float | None = None
    """CPU time of all PostgreSQL processes per request."""
    other_load_cores: float | None = None
    """CPUs' worth of work done meanwhile by other processes on the machine (noise; near 0 when quiet)."""


@dataclass
class AppRun:
    app: AppName
    measurements: dict[ScenarioKey, Measurement] = field(default_factory=dict)
    """The reported measurement of each scenario: the round with the median requests/s."""
    rounds: dict[ScenarioKey, list[Measurement]] = field(default_factory=dict)
    """Every round's measurement of each scenario, in the order they ran."""
    peak_rss_bytes: int | None = None
    startup_seconds: float | None = None

    def add_round(self, key: ScenarioKey, measurement: Measurement) -> None:
        """Record one round; the reported measurement becomes the median one (by requests/s) so far."""
        rounds = self.rounds.setdefault(key, [])
        rounds.append(measurement)
        self.measurements[key] = sorted(rounds, key=lambda each: each.load.rps)[(len(rounds) - 1) // 2]

    def errors(self) -> int:
        """Errors in every round of every scenario: a round that is not reported still counts."""
        return sum(each.load.errors for rounds in self.rounds.values() for each in rounds)


@dataclass
class ScalingPoint:
    depth: int
    median_ms: float
    min_ms: float
    max_ms: float
    samples: int


@dataclass
class ScalingRun:
    app: AppName
    paging: str
    points: list[ScalingPoint] = field(default_factory=list)

    def growth(self) -> float | None:
        """Time of the deepest page over time of the shallowest."""
        if len(self.points) < 2 or self.points[0].median_ms <= 0:
            return None
        return self.points[-1].median_ms / self.points[0].median_ms


@dataclass
class Report:
    meta: dict[str, Any]
    scenarios: list[Scenario]
    runs: list[AppRun] = field(default_factory=list)
    scaling: list[ScalingRun] = field(default_factory=list)
    scaling_meta: dict[str, Any] = field(default_factory=dict)
    bulk_import: ImportFigures | None = None

    def run(self, app: AppName) -> AppRun | None:
        return next((run for run in self.runs if run.app == app), None)

    def measurement(self, app: AppName, key: ScenarioKey) -> Measurement | None:
        run = self.run(app)
        return None if run is None else run.measurements.get(key)

    def scaling_run(self, app: AppName) -> ScalingRun | None:
        return next((run for run in self.scaling if run.app == app), None)

    def targets(self) -> list[tuple[str, str, bool | None]]:
        """(target, what was measured, met?) for the targets the issue sets the service (None: not measured)."""
        rows: list[tuple[str, str, bool | None]] = []

        def ratio(key: ScenarioKey, other: AppName, attribute: str = "rps") -> float | None:
            mine, theirs = self.measurement("service", key), self.measurement(other, key)
            if mine is None or theirs is None:
                return None
            denominator = getattr(theirs.load, attribute)
            return getattr(mine.load, attribute) / denominator if denominator else None

        def add(name: str, value: float | None, limit: float, at_least: bool) -> None:
            if value is None:
                rows.append((name, "not measured", None))
            else:
                rows.append((name, f"{value:.2f}x", value >= limit if at_least else value <= limit))

        add("GET by id: service req/s >= 2.5x tutorial", ratio("get_by_id", "tutorial"), 2.5, True)
        add("POST: service req/s >= 2.5x tutorial", ratio("create", "tutorial"), 2.5, True)
        add("PATCH: service req/s >= 2.5x tutorial", ratio("patch", "tutorial"), 2.5, True)
        add("first page: service req/s >= 2x tutorial", ratio("list_first", "tutorial"), 2, True)
        add("deep page: service req/s >= 2x tutorial", ratio("list_deep", "tutorial"), 2, True)
        for key in get_args(ScenarioKey):
            add(f"{key}: service p99 <= 3x raw ceiling p99", ratio(key, "ceiling", "p99_ms"), 3, False)
        service = self.run("service")
        if service is None or not service.measurements:
            rows.append(("service: zero errors", "not measured", None))
        else:
            errors = service.errors()
            rows.append(("service: zero errors", f"{errors} errors", errors == 0))
        if service is None or service.peak_rss_bytes is None:
            rows.append((f"service: peak RSS < {RSS_TARGET_MB} MB", "not measured", None))
        else:
            peak = service.peak_rss_bytes / MB
            rows.append((f"service: peak RSS < {RSS_TARGET_MB} MB", f"{peak:.1f} MB", peak < RSS_TARGET_MB))
        scaling = self.scaling_run("service")
        growth = None if scaling is None else scaling.growth()
        if scaling is not None and growth is not None:
            shallow, deep = scaling.points[0].depth, scaling.points[-1].depth
            add(f"list page: service at depth {deep:,} <= 1.5x depth {shallow:,}", growth, FLAT_LIMIT, False)
        figures = self.bulk_import
        if figures is not None:
            rows.append(
                (
                    f"import: {figures.rows:,} users in < {IMPORT_TARGET_SECONDS:g} s",
                    f"{figures.seconds:.2f} s",
                    figures.seconds < IMPORT_TARGET_SECONDS * figures.rows / 100_000,
                )
            )
            rows.append(
                ("import: the same file again creates 0", f"{figures.created_again}", figures.created_again == 0)
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        def run_json(run: AppRun) -> dict[str, Any]:
            return {
                "app": run.app,
                "title": APPS[run.app].title,
                "peak_rss_bytes": run.peak_rss_bytes,
                "peak_rss_mb": None if run.peak_rss_bytes is None else round(run.peak_rss_bytes / MB, 1),
                "startup_seconds": run.startup_seconds,
                "scenarios": {
                    key: asdict(measurement)
                    | {"errors": measurement.load.errors}
                    | {"ratio_to_ceiling": self._ratio(run.app, key)}
                    | {"ratio_to_stack": self._ratio(run.app, key, "stack")}
                    | {"ratio_to_tutorial": self._ratio(run.app, key, "tutorial")}
                    | {"rounds": [asdict(each) for each in run.rounds.get(key, [])]}
                    for key, measurement in run.measurements.items()
                },
            }

        return {
            "meta": self.meta,
            "scenarios": [asdict(scenario) for scenario in self.scenarios],
            "apps": [run_json(run) for run in self.runs],
            "scaling": {
                "meta": self.scaling_meta,
                "apps": [asdict(run) | {"growth": run.growth()} for run in self.scaling],
            },
            "import": None
            if self.bulk_import is None
            else asdict(self.bulk_import) | {"rows_per_second": round(self.bulk_import.rows_per_second)},
            "targets": [{"target": name, "measured": value, "met": met} for name, value, met in self.targets()],
        }

    def _ratio(self, app: AppName, key: ScenarioKey, other: AppName = "ceiling") -> dict[str, float | None]:
        mine, ceiling = self.measurement(app, key), self.measurement(other, key)
        if mine is None or ceiling is None:
            return {"rps": None, "p99": None}
        return {
            "rps": mine.load.rps / ceiling.load.rps if ceiling.load.rps else None,
            "p99": mine.load.p99_ms / ceiling.load.p99_ms if ceiling.load.p99_ms else None,
        }


def _number(value: float | None, digits: int = 1, suffix: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def _table(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return indent + "  ".join([first, *rest]).rstrip()

    return [line(header), indent + "  ".join("-" * width for width in widths), *(line(row) for row in rows)]


def render(report: Report) -> str:
    out: list[str] = []
    meta = report.meta
    if report.runs:
        rounds = meta.get("rounds", 1)
        out.append(
            f"Load: {meta.get('generator')}, {meta.get('connections')} connections, {meta.get('duration_s')} s per "
            f"scenario after {meta.get('warmup_s')} s of warm-up, {meta.get('users'):,} seeded users, "
            f"{meta.get('cpus')} CPUs"
            + (
                f"; {rounds} rounds per scenario, the apps in turn, each app's median round (by req/s) shown"
                if rounds > 1
                else ""
            )
        )
        for scenario in report.scenarios:
            out.append("")
            out.append(f"{scenario.title}  ({scenario.detail})")
            rows = []
            for run in report.runs:
                measurement = run.measurements.get(scenario.key)
                if measurement is None:
                    continue
                load, ratio = measurement.load, report._ratio(run.app, scenario.key)
                rows.append(
                    [
                        APPS[run.app].title,
                        _number(load.rps),
                        _number(load.p50_ms, 2),
                        _number(load.p99_ms, 2),
                        f"{load.errors:,}",
                        _number(report._ratio(run.app, scenario.key, "tutorial")["rps"], 2, "x"),
                        _number(report._ratio(run.app, scenario.key, "stack")["rps"], 2, "x"),
                        _number(ratio["rps"], 2, "x"),
                        _number(ratio["p99"], 2, "x"),
                        _number(measurement.server_cpu_ms_per_request, 3),
                        _number(measurement.postgres_cpu_ms_per_request, 3),
                        _number(measurement.other_load_cores, 2),
                    ]
                )
            header = [
                "app",
                "req/s",
                "p50 ms",
                "p99 ms",
                "errors",
                "rps/tutorial",
                "rps/stack",
                "rps/ceil",
                "p99/ceil",
                "app CPU ms/req",
                "DB CPU ms/req",
                "other load",
            ]
            out.extend(_table(header, rows))
            if rounds > 1:
                out.append(
                    "  rounds, req/s: "
                    + "; ".join(
                        f"{run.app} "
                        + " / ".join(_number(each.load.rps, 0) for each in run.rounds.get(scenario.key, []))
                        for run in report.runs
                    )
                )
            for run in report.runs:
                for measurement in run.rounds.get(scenario.key, []):
                    if measurement.load.errors:
                        out.append(
                            f"  ! {run.app}: {measurement.load.non_2xx} non-2xx, {measurement.load.socket_errors} "
                            f"socket errors; statuses {measurement.load.statuses}"
                        )
        out.append("")
        rss = ", ".join(
            f"{APPS[run.app].title} {_number(run.peak_rss_bytes / MB if run.peak_rss_bytes else None)} MB"
            for run in report.runs
        )
        out.append(f"Peak RSS (VmHWM of the server process): {rss}")
        out.append(
            "CPU ms/req: CPU time per request of the app's process and of all PostgreSQL processes. Other load: CPUs "
            "kept busy meanwhile by anything else on the machine (noise)."
        )
        noisy = max((m.other_load_cores or 0.0 for r in report.runs for m in r.measurements.values()), default=0.0)
        if noisy > NOISY_CPUS:
            out.append(
                f"! other processes kept up to {noisy:.2f} of {meta.get('cpus')} CPUs busy during the measurements: "
                "these figures are lower and noisier than a quiet machine's; re-run when it is idle."
            )
    if report.scaling:
        depths = [point.depth for point in report.scaling[0].points]
        out.append("")
        repeats = report.scaling_meta.get("repeats")
        out.append(
            f"List page ({report.scaling_meta.get('page_size')} users) by depth, {report.scaling_meta.get('users'):,} "
            f"users: median of {repeats} single requests through HTTP, ms"
        )
        header = ["app (paging)", *(f"depth {depth:,}" for depth in depths), "deepest/shallowest"]
        rows = [
            [
                f"{run.app} ({run.paging})",
                *(_number(point.median_ms, 2) for point in run.points),
                _number(run.growth(), 2, "x"),
            ]
            for run in report.scaling
        ]
        out.extend(_table(header, rows))
    figures = report.bulk_import
    if figures is not None:
        out.append("")
        out.append(
            f"Bulk import (users-service import, CSV, batches of 1,000): {figures.created:,} users in "
            f"{figures.seconds:.2f} s, {figures.rows_per_second:,.0f} rows/s; the same file again created "
            f"{figures.created_again}"
        )
    targets = [(name, value, met) for name, value, met in report.targets() if met is not None]
    if targets:
        out.append("")
        out.append("Targets for the service (information: the benchmark itself does not fail on them)")
        verdict = {True: "met", False: "MISSED", None: "-"}
        out.extend(
            _table(["target", "measured", "verdict"], [[name, value, verdict[met]] for name, value, met in targets])
        )
    return "\n".join(out)


def write_json(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return path


def write_chart(report: Report, path: Path) -> Path:
    """A PNG of the same figures: req/s and p99 per scenario and app, and the scaling figure if measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    panels = (2 if report.runs else 0) + (1 if report.scaling else 0)
    figure, axes_array = plt.subplots(panels, 1, figsize=(11, 4.2 * panels), squeeze=False)
    axes = list(axes_array[:, 0])
    colours = {"service": "#1f77b4", "tutorial": "#ff7f0e", "stack": "#9467bd", "ceiling": "#2ca02c"}
    if report.runs:
        keys = [scenario.key for scenario in report.scenarios]
        labels = [scenario.title.replace(" deep", "\n(deep)") for scenario in report.scenarios]
        width = 0.8 / len(report.runs)
        for axis, attribute, ylabel in ((axes[0], "rps", "requests/s"), (axes[1], "p99_ms", "p99 latency (ms)")):
            for index, run in enumerate(report.runs):
                values = [
                    getattr(m.load, attribute) if (m := run.measurements.get(key)) is not None else 0.0 for key in keys
                ]
                positions = [i + (index - (len(report.runs) - 1) / 2) * width for i in range(len(keys))]
                bars = axis.bar(positions, values, width, label=APPS[run.app].title, color=colours[run.app])
                axis.bar_label(bars, fmt="%.0f" if attribute == "rps" else "%.1f", fontsize=7)
            axis.set_xticks(range(len(keys)), labels, fontsize=8)
            axis.set_ylabel(ylabel)
            axis.legend(fontsize=8)
            axis.grid(axis="y", alpha=0.3)
        meta = report.meta
        axes[0].set_title(
            f"{meta.get('connections')} connections, {meta.get('duration_s')} s per scenario, "
            f"{meta.get('users'):,} users ({meta.get('generator')})"
        )
    if report.scaling:
        axis = axes[-1]
        depths = [point.depth for point in report.scaling[0].points]
        width = 0.8 / len(report.scaling)
        for index, scaling in enumerate(report.scaling):
            positions = [i + (index - (len(report.scaling) - 1) / 2) * width for i in range(len(depths))]
            bars = axis.bar(
                positions,
                [point.median_ms for point in scaling.points],
                width,
                label=f"{scaling.app} ({scaling.paging})",
                color=colours[scaling.app],
            )
            axis.bar_label(bars, fmt="%.1f", fontsize=7)
        axis.set_yscale("log")
        axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
        axis.set_xticks(range(len(depths)), [f"depth {depth:,}" for depth in depths])
        axis.set_ylabel("one list page, median ms (log)")
        axis.set_title("List page cost by depth")
        axis.legend(fontsize=8)
        axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
