"""The three apps under test, started one at a time on 127.0.0.1 and always stopped again.

Every child process is started in a process group of its own, registered, and stopped with SIGTERM (then
SIGKILL for the whole group if it lingers) on the way out of ``running_app``; an ``atexit`` hook stops
whatever is still registered should the benchmark itself die on an exception, and on Linux each child also
gets SIGTERM from the kernel if the benchmark is killed outright (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from benchmarks.seed import ROOT, USERS_SERVICE, asyncpg_dsn, service_environment, sqlalchemy_url

AppName = Literal["service", "tutorial", "stack", "ceiling"]
Paging = Literal["cursor", "offset", "after"]
APP_NAMES: tuple[AppName, ...] = ("service", "tutorial", "stack", "ceiling")

HOST = "127.0.0.1"
_STOP_TIMEOUT = 15.0
_STARTUP_TIMEOUT = 60.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class AppSpec:
    name: AppName
    title: str
    paging: Paging
    """How its list is walked deep: the service's opaque cursor, OFFSET, or keyset ``?after=<uuid>``."""


APPS: dict[AppName, AppSpec] = {
    "service": AppSpec("service", "service (users-service serve)", "cursor"),
    "tutorial": AppSpec("tutorial", "tutorial (FastAPI + ORM)", "offset"),
    "stack": AppSpec("stack", "stack ceiling (FastAPI + SQLAlchemy Core)", "after"),
    "ceiling": AppSpec("ceiling", "raw ceiling (Starlette + asyncpg)", "after"),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _command_and_environment(name: AppName, database_url: str, port: int) -> tuple[list[str], dict[str, str]]:
    if name == "service":
        # Exactly as production starts a replica (the schema was migrated beforehand, as a release step).
        environment = service_environment(database_url, host=HOST, port=str(port), log_level="warning")
        return [USERS_SERVICE, "serve", "--no-migrate"], environment
    module = {
        "tutorial": "benchmarks.apps.tutorial:app",
        "stack": "benchmarks.apps.stack_ceiling:app",
        "ceiling": "benchmarks.apps.raw_ceiling:app",
    }[name]
    url = asyncpg_dsn(database_url) if name == "ceiling" else sqlalchemy_url(database_url)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        module,
        "--app-dir",
        str(ROOT),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
        "--no-server-header",
    ]
    return command, service_environment(url)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(command: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new process group, logging to ``log``, and register it for cleanup."""
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own commands, no shell
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    _children[process.pid] = process
    return process


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def stop(process: subprocess.Popen[bytes], timeout: float = _STOP_TIMEOUT) -> int:
    """SIGTERM to the process group; SIGKILL to whatever of it is left after ``timeout``. Blocking."""
    try:
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        # Stragglers: anything the child started in its group that outlived it.
        _signal_group(process, signal.SIGKILL)
        return process.returncode
    finally:
        _children.pop(process.pid, None)


@atexit.register
def stop_all() -> None:
    """Stop every child still registered (the benchmark failed or was interrupted)."""
    for process in list(_children.values()):
        stop(process, timeout=5)


@dataclass
class ProcessUsage:
    cpu_seconds: float
    rss_kib: int
    peak_rss_kib: int


def process_usage(pid: int) -> ProcessUsage | None:
    """CPU time (user + system), resident set and its peak (VmHWM) of a live process, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces, but is closed by the last ')').
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    memory = {
        line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith(("VmRSS", "VmHWM"))
    }
    return ProcessUsage(cpu_seconds=cpu, rss_kib=memory.get("VmRSS", 0), peak_rss_kib=memory.get("VmHWM", 0))


def postgres_cpu_seconds() -> float:
    """CPU time used so far by the PostgreSQL processes on this machine, living and exited."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat[stat.index("(") + 1 : stat.rindex(")")] != "postgres":
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # utime + stime, and cutime + cstime: the postmaster's exited children, so that a backend that ends
        # mid-run (a pool's overflow connection being closed) does not take its CPU time out of the sum.
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / _CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy so far (all CPUs; idle and I/O wait left out)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


def own_cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (wrk, once it has been waited for)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass(frozen=True)
class CpuSnapshot:
    """Where the machine's CPU time went, so far: to compare two of them taken around a measurement."""

    at: float
    machine: float
    postgres: float
    own: float
    app: float | None

    @classmethod
    def take(cls, app_pid: int | None = None) -> CpuSnapshot:
        usage = None if app_pid is None else process_usage(app_pid)
        return cls(
            at=time.monotonic(),
            machine=machine_busy_seconds(),
            postgres=postgres_cpu_seconds(),
            own=own_cpu_seconds(),
            app=None if usage is None else usage.cpu_seconds,
        )

    def other_cores(self, later: CpuSnapshot) -> float:
        """CPUs' worth of work done meanwhile by anything but the app, PostgreSQL, the benchmark and its load
        generator: other processes on the machine, plus interrupt handling. Near 0 on a quiet machine."""
        elapsed = later.at - self.at
        if elapsed <= 0:
            return 0.0
        ours = (later.postgres - self.postgres) + (later.own - self.own)
        if self.app is not None and later.app is not None:
            ours += later.app - self.app
        return max(0.0, (later.machine - self.machine - ours) / elapsed)


async def background_load(seconds: float = 1.0) -> float:
    """CPUs' worth of work that other processes do on this machine right now (sampled for ``seconds``)."""
    before = CpuSnapshot.take()
    await asyncio.sleep(seconds)
    return before.other_cores(CpuSnapshot.take())


@dataclass
class RunningApp:
    spec: AppSpec
    process: subprocess.Popen[bytes]
    port: int
    log_file: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def host_header(self) -> str:
        return f"{HOST}:{self.port}"

    def usage(self) -> ProcessUsage | None:
        return process_usage(self.process.pid)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")


async def _wait_until_healthy(app: RunningApp, within: float) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if app.process.poll() is not None:
                raise RuntimeError(f"{app.spec.name} exited with {app.process.returncode}:\n{app.log()}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{app.base_url}/healthz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{app.spec.name} did not answer /healthz within {within} s:\n{app.log()}")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def running_app(name: AppName, database_url: str) -> AsyncIterator[RunningApp]:
    """One app on a free loopback port, answering /healthz; stopped (and waited for) on the way out."""
    port = free_port()
    command, environment = _command_and_environment(name, database_url, port)
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as scratch:
        # The service runs in an empty directory: a developer's .env in the checkout must not configure it.
        cwd = Path(scratch) if name == "service" else ROOT
        process = spawn(command, env=environment, cwd=cwd, log=Path(scratch) / "server.log")
        app = RunningApp(APPS[name], process, port, Path(scratch) / "server.log")
        try:
            await _wait_until_healthy(app, _STARTUP_TIMEOUT)
            yield app
        finally:
            # Blocking on purpose: nothing else runs meanwhile, and a second Ctrl-C cannot cut the stop short.
            stop(process)
