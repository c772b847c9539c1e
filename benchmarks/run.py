"""The benchmark's command line: ``python -m benchmarks.run`` (``make bench`` runs it with ``--scaling``).

1. Load: a fresh database, migrated by ``users-service migrate`` and seeded with ``--users`` users; then for
   each scenario, each app in turn (the service, the tutorial-style reference, the raw ceiling), one worker on
   127.0.0.1 started for it, gets ``--warmup`` seconds of load (discarded) and then ``--duration`` seconds at
   ``--connections``; ``--rounds`` times over, the median round shown.
2. Scaling (``--scaling``): a second database with 1,000,050 users; one list page at depth 1k, 100k and 1M,
   median of ``--scaling-repeats`` single requests through HTTP, for each app's own paging.

Prints one table per scenario and writes ``benchmarks/results/latest.json`` and ``latest.png``. Everything it
starts is stopped and every database it made is dropped, also on failure, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

import asyncpg  # type: ignore[import-untyped]
import httpx

from benchmarks import import_users
from benchmarks.load import Generator, LoadSpec, run_load, wrk_available
from benchmarks.report import AppRun, Measurement, Report, ScalingPoint, ScalingRun, render, write_chart, write_json
from benchmarks.scenarios import PAGE_SIZE, RequestPlan, Workload, deep_page_path, plan, scenarios
from benchmarks.seed import (
    BENCH_AUTHORIZATION,
    Databases,
    ServerDatabases,
    asyncpg_dsn,
    id_at,
    migrate,
    seed_users,
    server_url_from_environment,
    settle,
    write_ids,
)
from benchmarks.servers import APP_NAMES, APPS, AppName, CpuSnapshot, RunningApp, background_load, running_app

RESULTS_DIR = Path(__file__).resolve().parent / "results"
_AUTH = {"Authorization": BENCH_AUTHORIZATION}
DEEP_FRACTION = 0.9
SCALING_WARMUP_REQUESTS = 3
BUSY_MACHINE_CPUS = 0.2


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class Options:
    users: int = 100_000
    duration: float = 10.0
    warmup: float = 2.0
    connections: int = 32
    threads: int = 1
    generator: Literal["auto", "wrk", "python"] = "auto"
    max_requests: int | None = None
    """Python generator: at most this many requests per measured run (the duration still caps it)."""
    warmup_requests: int | None = None
    apps: tuple[AppName, ...] = APP_NAMES
    rounds: int = 1
    """Measurements of each (scenario, app), interleaved; the median one (by requests/s) is reported."""
    load: bool = True
    scaling: bool = False
    scaling_depths: tuple[int, ...] = (1_000, 100_000, 1_000_000)
    import_rows: int = 100_000
    """Users of the bulk-import step (0: no import step)."""
    import_server: str | None = None
    """The server the import step makes its database on (default: BENCH_DATABASE_URL, else the local one)."""
    scaling_repeats: int = 20
    scaling_apps: tuple[AppName, ...] = APP_NAMES
    results_dir: Path = RESULTS_DIR


def choose_generator(wanted: Literal["auto", "wrk", "python"], echo: Callable[[str], None]) -> Generator:
    if wanted == "python":
        return "python"
    if wrk_available():
        return "wrk"
    if wanted == "wrk":
        raise SystemExit("--generator wrk, but wrk is not installed (apt-get install wrk)")
    echo(
        "notice: wrk is not installed, so the Python load generator drives the load. It shares this machine's "
        "CPUs with the servers and tops out lower than wrk: compare its figures only with each other."
    )
    return "python"


async def _postgres_version(database_url: str) -> str:
    connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        return cast(str, await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


# --- step 1: load ----------------------------------------------------------------------------------------------


class ShapeMismatch(AssertionError):
    pass


_STABLE_FIELDS = ("id", "username", "email", "is_active", "created_at")


async def check_shape(app: RunningApp, workload: Workload, reference: dict[str, Any] | None) -> dict[str, Any]:
    """Ask ``app`` for one user, the first page and the deep page, and hold the answers against the first
    app's: same routes, same JSON keys, same values for fields no scenario changes, same deep page."""
    deep = deep_page_path(app.spec.paging, workload.deep_position, workload.deep_id, limit=2)
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30, headers=_AUTH) as client:
        answers = [await client.get(path) for path in (f"/users/{workload.ids[0]}", "/users?limit=2", deep)]
    for answer in answers:
        if answer.status_code != 200:
            raise ShapeMismatch(f"{app.spec.name}: GET {answer.url} answered {answer.status_code}: {answer.text}")
    user, page, deep_page = (answer.json() for answer in answers)
    expected_deep_first = workload.ids[workload.deep_position] if workload.deep_position < len(workload.ids) else None
    if deep_page["items"] and deep_page["items"][0]["id"] != expected_deep_first:
        raise ShapeMismatch(f"{app.spec.name}: the deep page starts at {deep_page['items'][0]['id']}")
    shape = {
        "user_keys": sorted(user),
        "user": {name: user[name] for name in _STABLE_FIELDS},
        "page_keys": sorted(page),
        "item_keys": sorted(page["items"][0]),
        "first_page_ids": [item["id"] for item in page["items"]],
    }
    if reference is not None:
        for name, value in shape.items():
            if value != reference[name]:
                raise ShapeMismatch(
                    f"{app.spec.name} differs from the first app in {name}: {value} != {reference[name]}"
                )
    return shape


async def load_step(options: Options, databases: Databases, report: Report, generator: Generator) -> None:
    url = await databases.create()
    try:
        await migrate(url)
        report.meta["postgres"] = await _postgres_version(url)
        seeded = await seed_users(url, options.users, keep_ids=True)
        say(f"seeded {seeded.count:,} users in {seeded.seconds:.1f} s (COPY, then VACUUM ANALYZE)")
        deep_position = max(1, min(options.users - 1, int(options.users * DEEP_FRACTION)))
        run_tag = "b" + secrets.token_hex(3)
        with tempfile.TemporaryDirectory(prefix="bench-ids-") as scratch:
            ids = [str(user_id) for user_id in seeded.ids]
            workload = Workload(
                ids, write_ids(seeded.ids, Path(scratch) / "ids.txt"), deep_position, seeded.ids[deep_position - 1]
            )
            measured = LoadSpec(options.connections, options.duration, options.max_requests, options.threads)
            warmup = LoadSpec(options.connections, options.warmup, options.warmup_requests, options.threads)
            runs = {name: AppRun(name) for name in options.apps}
            report.runs.extend(runs.values())
            reference: dict[str, Any] | None = None
            sequence = 0
            # Scenario by scenario, the apps in turn (each started afresh on a settled database): the machine's
            # slow spells (another tenant of the host, say) then touch the apps of a scenario alike, rather than
            # one app's whole series.
            for scenario in report.scenarios:
                say(scenario.title)
                for _ in range(options.rounds):
                    for name in options.apps:
                        run = runs[name]
                        await settle(url)
                        started = time.perf_counter()
                        async with running_app(name, url) as app:
                            if run.startup_seconds is None:
                                run.startup_seconds = round(time.perf_counter() - started, 2)
                                reference = await check_shape(app, workload, reference)
                            sequence += 1
                            if options.warmup > 0:
                                warm_plan = plan(scenario.key, app.spec.paging, workload, f"{run_tag}w{sequence}")
                                await run_load(generator, warm_plan, app.port, warmup)
                            measured_plan = plan(scenario.key, app.spec.paging, workload, f"{run_tag}m{sequence}")
                            measurement = await _measure(generator, measured_plan, app, measured)
                            run.add_round(scenario.key, measurement)
                            load = measurement.load
                            say(
                                f"  {APPS[name].title:<32} {load.rps:>9,.1f} req/s  p50 {load.p50_ms:7.2f} ms  "
                                f"p99 {load.p99_ms:7.2f} ms  errors {load.errors}  "
                                f"other load {measurement.other_load_cores:.2f} CPUs"
                            )
                            if load.errors:
                                say(f"    statuses {load.statuses}; server log tail:\n{app.log()[-2000:]}")
                            usage = app.usage()
                            if usage is not None:
                                peak = usage.peak_rss_kib * 1024
                                run.peak_rss_bytes = max(run.peak_rss_bytes or 0, peak)
    finally:
        await databases.drop(url)


async def _measure(generator: Generator, request_plan: RequestPlan, app: RunningApp, spec: LoadSpec) -> Measurement:
    before = CpuSnapshot.take(app.process.pid)
    load = await run_load(generator, request_plan, app.port, spec)
    after = CpuSnapshot.take(app.process.pid)
    measurement = Measurement(load, other_load_cores=round(before.other_cores(after), 2))
    if load.requests and before.app is not None and after.app is not None:
        measurement.server_cpu_ms_per_request = (after.app - before.app) * 1000 / load.requests
        measurement.postgres_cpu_ms_per_request = (after.postgres - before.postgres) * 1000 / load.requests
    return measurement


# --- step 2: scaling -------------------------------------------------------------------------------------------


async def scaling_step(options: Options, databases: Databases, report: Report) -> None:
    depths = sorted(options.scaling_depths)
    rows = depths[-1] + PAGE_SIZE  # so that the page after the deepest user is a full one
    url = await databases.create()
    try:
        await migrate(url)
        seeded = await seed_users(url, rows)
        say(f"scaling: seeded {seeded.count:,} users in {seeded.seconds:.1f} s")
        report.scaling_meta = {
            "users": rows,
            "depths": depths,
            "repeats": options.scaling_repeats,
            "page_size": PAGE_SIZE,
            "method": "median of single sequential requests through HTTP (httpx, keep-alive), after "
            f"{SCALING_WARMUP_REQUESTS} warm-up requests",
        }
        after = {depth: await id_at(url, depth) for depth in depths}
        first = {depth: str(await id_at(url, depth + 1)) for depth in depths}
        for name in options.scaling_apps:
            await settle(url)
            async with running_app(name, url) as app:
                run = ScalingRun(name, app.spec.paging)
                report.scaling.append(run)
                async with httpx.AsyncClient(base_url=app.base_url, timeout=120, headers=_AUTH) as client:
                    paths = {depth: deep_page_path(app.spec.paging, depth, after[depth]) for depth in depths}
                    samples: dict[int, list[float]] = {depth: [] for depth in depths}
                    # Round-robin over the depths, so that any drift of the machine touches every depth alike.
                    for attempt in range(SCALING_WARMUP_REQUESTS + options.scaling_repeats):
                        for depth in depths:
                            elapsed = await _time_page(client, paths[depth], first[depth])
                            if attempt >= SCALING_WARMUP_REQUESTS:
                                samples[depth].append(elapsed)
                run.points = [
                    ScalingPoint(depth, statistics.median(times), min(times), max(times), len(times))
                    for depth, times in samples.items()
                ]
                say(
                    f"  {name:<9} ({run.paging:<6}) "
                    + "  ".join(f"{p.depth:>9,}: {p.median_ms:8.2f} ms" for p in run.points)
                )
    finally:
        await databases.drop(url)


async def _time_page(client: httpx.AsyncClient, path: str, first_id: str) -> float:
    """Milliseconds to GET one list page, checked to be the full page that starts at ``first_id``."""
    started = time.perf_counter()
    answer = await client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    items = answer.json()["items"] if answer.status_code == 200 else []
    if len(items) != PAGE_SIZE or items[0]["id"] != first_id:
        raise AssertionError(f"GET {path}: {answer.status_code}, not the expected page: {answer.text[:300]}")
    return elapsed


# --- the whole run ---------------------------------------------------------------------------------------------


async def run(options: Options, databases: Databases | None = None) -> Report:
    """Run the steps ``options`` ask for, print the tables, write latest.json and latest.png."""
    databases = databases if databases is not None else ServerDatabases(server_url_from_environment())
    generator = choose_generator(options.generator, say) if options.load else "python"
    deep_position = max(1, min(options.users - 1, int(options.users * DEEP_FRACTION)))
    report = Report(
        meta={
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "generator": generator,
            "connections": options.connections,
            "threads": options.threads,
            "duration_s": options.duration,
            "rounds": options.rounds,
            "warmup_s": options.warmup,
            "max_requests": options.max_requests,
            "users": options.users,
            "deep_position": deep_position,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.platform(),
        },
        scenarios=list(scenarios(deep_position)) if options.load else [],
    )
    background = await background_load()
    report.meta["other_load_at_start_cpus"] = round(background, 2)
    if background > BUSY_MACHINE_CPUS:
        say(
            f"warning: other processes keep {background:.2f} of this machine's {os.cpu_count()} CPUs busy right "
            "now; the figures will be lower and noisier than on a quiet machine (see 'other load' per scenario)"
        )
    if options.load:
        await load_step(options, databases, report, generator)
    if options.scaling:
        await scaling_step(options, databases, report)
    if options.import_rows:
        say(f"\nimport: {options.import_rows:,} users through users-service import, then the same file again")
        figures = await asyncio.to_thread(
            import_users.measure, options.import_rows, server=options.import_server or server_url_from_environment()
        )
        report.bulk_import = figures
    say()
    say(render(report))
    json_path = write_json(report, options.results_dir / "latest.json")
    chart_path = write_chart(report, options.results_dir / "latest.png")
    say(f"\nwrote {json_path} and {chart_path}")
    return report


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, help="users to seed for the load step (default 100000)")
    parser.add_argument("--duration", type=float, help="seconds of measured load per scenario and app (default 10)")
    parser.add_argument("--warmup", type=float, help="seconds of discarded load before each (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1: leaves the CPUs to the servers)")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto", help="load generator")
    parser.add_argument("--requests", type=int, help="Python generator: at most this many requests per run")
    parser.add_argument("--apps", default=",".join(APP_NAMES), help="comma-separated, from: " + ", ".join(APP_NAMES))
    parser.add_argument("--rounds", type=int, default=1, help="measurements per scenario and app, median shown (1)")
    parser.add_argument("--scaling", action="store_true", help="also measure list-page cost by depth (seeds 1M)")
    parser.add_argument("--scaling-only", action="store_true", help="only the scaling step")
    parser.add_argument("--scaling-depths", help="comma-separated depths (default 1000,100000,1000000)")
    parser.add_argument("--scaling-repeats", type=int, default=20, help="timed requests per depth (20)")
    parser.add_argument("--import-rows", type=int, help="users of the bulk-import step, 0 for none (100000)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where latest.json/.png go")
    parser.add_argument("--quick", action="store_true", help="a fast sanity run: 10k users, 3 s, depths to 100k")
    arguments = parser.parse_args(argv)

    apps = _app_names(arguments.apps, parser)
    quick = arguments.quick
    default_depths = "1000,10000,100000" if quick else "1000,100000,1000000"
    depths = tuple(int(depth) for depth in (arguments.scaling_depths or default_depths).split(","))
    options = Options(
        users=arguments.users or (10_000 if quick else 100_000),
        duration=arguments.duration or (3.0 if quick else 10.0),
        warmup=arguments.warmup if arguments.warmup is not None else (1.0 if quick else 2.0),
        connections=arguments.connections,
        threads=arguments.threads,
        generator=arguments.generator,
        max_requests=arguments.requests,
        apps=apps,
        rounds=arguments.rounds,
        load=not arguments.scaling_only,
        scaling=arguments.scaling or arguments.scaling_only,
        scaling_depths=depths,
        scaling_repeats=arguments.scaling_repeats,
        scaling_apps=apps,
        results_dir=arguments.results_dir,
        import_rows=arguments.import_rows if arguments.import_rows is not None else (20_000 if quick else 100_000),
    )
    if options.users < 2 or options.connections < 1 or options.threads < 1 or options.threads > options.connections:
        parser.error("need --users >= 2 and 1 <= --threads <= --connections")
    if options.rounds < 1:
        parser.error("need --rounds >= 1")
    return options


def _app_names(text: str, parser: argparse.ArgumentParser) -> tuple[AppName, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in APP_NAMES]
    if unknown or not names:
        parser.error(f"--apps: unknown {unknown}; choose from {', '.join(APP_NAMES)}")
    # The service first: the others are checked against its answers.
    return tuple(sorted(cast(tuple[AppName, ...], names), key=APP_NAMES.index))


async def _main(options: Options) -> None:
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM ends the run like Ctrl-C does: the task is cancelled, and every `finally` on the way out stops
    # the servers and drops the databases.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await run(options)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency of the service
        loop_factory = None
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_main(options))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("\ninterrupted: servers stopped, databases dropped")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
