"""A throw-away PostgreSQL cluster, made from the local server binaries, for the tests that stop, crash and
restart the database under the service: faults that a shared server (TEST_DATABASE_URL) must never suffer.

initdb and pg_ctl refuse to run as root, so as root the cluster belongs to the ``postgres`` OS user (through
runuser, in a temporary directory given to that user); as anyone else it belongs to the user running the tests.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.server_process import free_port

_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_OS_USER = "postgres"
_SUPERUSER = "postgres"
# Debian and Ubuntu keep the server programs off PATH, one directory per major version.
_VERSIONED_BINARIES = Path("/usr/lib/postgresql")


class ClusterUnavailable(Exception):
    """This machine cannot make a throw-away cluster: no server binaries, or (as root) no way to run them."""


class ClusterFailed(Exception):
    """initdb or pg_ctl failed: the message carries its output and the end of the server's log."""


def server_binaries() -> Path:
    """The directory holding initdb, pg_ctl and postgres: pg_config's, else the newest /usr/lib/postgresql/N/bin,
    else the one on PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    if _VERSIONED_BINARIES.is_dir():
        versions = [path for path in _VERSIONED_BINARIES.iterdir() if re.fullmatch(r"\d+", path.name)]
        candidates += [path / "bin" for path in sorted(versions, key=lambda path: int(path.name), reverse=True)]
    on_path = shutil.which("pg_ctl")
    if on_path is not None:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if all(os.access(directory / program, os.X_OK) for program in _PROGRAMS):
            return directory
    raise ClusterUnavailable(f"no directory with the PostgreSQL server programs {', '.join(_PROGRAMS)} was found")


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _run_as() -> list[str]:
    """The command prefix that runs initdb and pg_ctl as a user they accept."""
    if not _running_as_root():
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ClusterUnavailable("running as root, and there is no runuser to start PostgreSQL as another user")
    try:
        pwd.getpwnam(_OS_USER)
    except KeyError:
        raise ClusterUnavailable(f"running as root, and there is no {_OS_USER!r} OS user to own the cluster") from None
    return [runuser, "-u", _OS_USER, "--"]


@dataclass(frozen=True)
class PostgresCluster:
    directory: Path  # the data directory, which also holds the server's socket and log
    port: int
    binaries: Path
    run_as: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{_SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def _log_file(self) -> Path:
        return self.directory / "server.log"

    def initdb(self) -> None:
        self._run("initdb", "--auth=trust", f"--username={_SUPERUSER}", "--encoding=UTF8", "--locale=C", "--no-sync")

    def start(self) -> None:
        """Start and return once the server accepts connections."""
        # -F (no fsync): a stop in "immediate" mode kills the server processes, not the machine, so whatever
        # a commit wrote to the WAL is still in the operating system's cache for the crash recovery to replay.
        options = f"-F -p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._pg_ctl("start", "-l", str(self._log_file), "-o", options)

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop and return once the server is gone. ``fast`` ends every session and shuts down cleanly;
        ``immediate`` kills the server outright, as a crash would (the next start recovers from the WAL)."""
        self._pg_ctl("stop", "-m", mode)

    def running(self) -> bool:
        command = [*self.run_as, str(self.binaries / "pg_ctl"), "status", "-D", str(self.directory)]
        return subprocess.run(command, cwd=self.directory, capture_output=True, check=False).returncode == 0

    def log(self) -> str:
        return self._log_file.read_text(errors="replace") if self._log_file.exists() else ""

    def _pg_ctl(self, *arguments: str) -> None:
        self._run("pg_ctl", "--wait", "--timeout=60", *arguments)

    def _run(self, program: str, *arguments: str) -> None:
        command = [*self.run_as, str(self.binaries / program), "-D", str(self.directory), *arguments]
        # cwd: the user the programs run as may not be allowed into the tests' working directory.
        result = subprocess.run(command, cwd=self.directory, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log_tail = "\n".join(self.log().splitlines()[-20:])
            raise ClusterFailed(
                f"{program} {' '.join(arguments)} exited with {result.returncode}:\n"
                f"{result.stdout}{result.stderr}\nserver log:\n{log_tail}"
            )


@contextmanager
def throwaway_cluster() -> Iterator[PostgresCluster]:
    """A new cluster, started, listening on a free loopback port, with trust authentication for
    ``postgres``; stopped (immediately, if still running) and deleted on the way out, whatever happened."""
    binaries = server_binaries()
    run_as = _run_as()
    directory = Path(tempfile.mkdtemp(prefix="users-service-pg-"))
    try:
        if run_as:
            shutil.chown(directory, user=_OS_USER)
        cluster = PostgresCluster(directory, free_port(), binaries, tuple(run_as))
        cluster.initdb()
        try:
            cluster.start()
            yield cluster
        finally:
            if cluster.running():
                cluster.stop("immediate")
    finally:
        shutil.rmtree(directory)
