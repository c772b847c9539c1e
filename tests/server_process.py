"""Start the real server as a child process, the way `make run` or the container does, and stop it politely."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.auth import SERVER_ENVIRONMENT, bearer

ROOT = Path(__file__).resolve().parents[1]
USERS_SERVICE = str(Path(sys.executable).with_name("users-service"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    log_file: Path
    returncode: int | None = field(default=None)
    # What a client of this server sends with every request: a token with every scope, signed with the key
    # that running_server configures the server to trust.
    client_headers: dict[str, str] = field(default_factory=bearer)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for the exit (killing it only if it hangs past ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        return self.returncode


@contextmanager
def running_server(
    env: dict[str, str], command: Sequence[str] = (USERS_SERVICE, "serve"), startup_timeout: float = 30
) -> Iterator[ServerProcess]:
    """The server, started with ``env`` over the current environment and the test key (tests/auth.py) on a
    free loopback port, answering
    /healthz; stopped with SIGTERM on the way out (if the test has not stopped it)."""
    port = free_port()
    full_env = os.environ | {"HOST": "127.0.0.1", "PORT": str(port)} | SERVER_ENVIRONMENT | env
    with tempfile.TemporaryDirectory() as scratch:
        log_file = Path(scratch) / "server.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(list(command), cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        server = ServerProcess(process, f"http://127.0.0.1:{port}", log_file)
        try:
            _wait_until_healthy(server, startup_timeout)
            yield server
        finally:
            if server.returncode is None:
                server.stop()


def _wait_until_healthy(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the server did not answer /healthz within {timeout} s:\n{server.log()}")
        time.sleep(0.1)
