"""The real server process, started the way `make run` starts it, answers over real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.smoke


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(database_url: str) -> Iterator[str]:
    port = _free_port()
    env = os.environ | {"DATABASE_URL": database_url, "HOST": "127.0.0.1", "PORT": str(port)}
    process = subprocess.Popen(  # the command `make run` runs
        [str(Path(sys.executable).with_name("users-service")), "serve"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                output = process.stderr.read() if process.stderr else ""
                pytest.fail(f"the server exited with {process.returncode}: {output}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the server did not answer /healthz within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log = process.stderr.read() if process.stderr else ""
        if process.stderr:
            process.stderr.close()
    assert process.returncode == 0
    assert "Application shutdown complete" in log


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[str]:
    # A brand-new database file: the server must create the schema (migrations) before serving.
    yield from _serve(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")


@pytest.fixture
def postgres_server(postgres_url: str) -> Iterator[str]:
    yield from _serve(postgres_url)


def _exercise(base: str) -> None:
    created = httpx.post(f"{base}/users", json={"username": "smoke", "email": "smoke@example.com"}, timeout=5)
    assert created.status_code == 201, created.text
    fetched = httpx.get(f"{base}{created.headers['location']}", timeout=5)
    assert fetched.status_code == 200
    assert fetched.json() == created.json()
    assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    assert "server" not in httpx.get(f"{base}/healthz", timeout=5).headers


@pytest.mark.sqlite
def test_the_server_serves_on_a_fresh_sqlite_database(sqlite_server: str) -> None:
    _exercise(sqlite_server)


@pytest.mark.postgres
def test_the_server_serves_on_postgresql(postgres_server: str) -> None:
    _exercise(postgres_server)
