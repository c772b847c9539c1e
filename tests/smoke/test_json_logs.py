"""The real server with LOG_FORMAT=json: every line it writes is one JSON object, uvicorn's and alembic's
included, and each request leaves an access line with the request id the client sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth import bearer
from tests.server_process import running_server

pytestmark = [pytest.mark.smoke, pytest.mark.sqlite]


def test_the_server_writes_json_lines_with_request_ids(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'logs.db'}", "LOG_FORMAT": "json", "LOG_LEVEL": "info"}
    with running_server(env) as server:
        created = httpx.post(
            f"{server.base_url}/users",
            json={"username": "smoke", "email": "smoke.logs@example.com", "full_name": "Smoke Logs"},
            headers={"X-Request-ID": "smoke-create-1", **bearer()},
            timeout=5,
        )
        assert created.status_code == 201, created.text
        assert created.headers["x-request-id"] == "smoke-create-1"
        listed = httpx.get(
            f"{server.base_url}/users", params={"email": "smoke.logs@example.com"}, headers=bearer(), timeout=5
        )
        assert listed.status_code == 200
        assert server.stop() == 0
        output = server.log()

    lines: list[dict[str, Any]] = [json.loads(line) for line in output.splitlines()]  # all JSON, or this fails
    assert all({"timestamp", "level", "logger", "message"} <= line.keys() for line in lines)
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.error", "alembic.runtime.migration", "users_service.access"} <= loggers
    [create] = [line for line in lines if line.get("request_id") == "smoke-create-1"]
    assert (create["logger"], create["method"], create["route"], create["status"]) == (
        "users_service.access",
        "POST",
        "/users",
        201,
    )
    assert create["duration_ms"] >= 0
    [listing] = [line for line in lines if line.get("route") == "/users" and line.get("method") == "GET"]
    assert listing["request_id"] == listed.headers["x-request-id"]
    assert any(line["message"] == "Application shutdown complete." for line in lines)
    assert "smoke.logs@example.com" not in output
    assert "Smoke Logs" not in output
