"""The real server process, started the way `make run` starts it, answers over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.auth import bearer
from tests.server_process import running_server

pytestmark = pytest.mark.smoke


def _exercise_and_stop(database_url: str) -> None:
    with running_server({"DATABASE_URL": database_url}) as server:
        base, auth = server.base_url, bearer()
        created = httpx.post(
            f"{base}/users", json={"username": "smoke", "email": "smoke@example.com"}, headers=auth, timeout=5
        )
        assert created.status_code == 201, created.text
        fetched = httpx.get(f"{base}{created.headers['location']}", headers=auth, timeout=5)
        assert fetched.status_code == 200
        assert fetched.json() == created.json()
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        assert "server" not in httpx.get(f"{base}/healthz", timeout=5).headers

        assert server.stop() == 0
        assert "Application shutdown complete" in server.log()


@pytest.mark.sqlite
def test_the_server_serves_on_a_fresh_sqlite_database(tmp_path: Path) -> None:
    # A brand-new database file: the server must create the schema (migrations) before serving.
    _exercise_and_stop(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")


@pytest.mark.postgres
def test_the_server_serves_on_postgresql(postgres_url: str) -> None:
    _exercise_and_stop(postgres_url)
