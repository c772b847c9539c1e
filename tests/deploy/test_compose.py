"""compose.yaml, up and down: the stack comes up on the images at hand, serves a real create and get, and
`down -v` leaves nothing behind."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.auth import token
from tests.deploy.container_files import ROOT
from tests.deploy.engine import (
    LOOPBACK,
    POSTGRES_IMAGE,
    SERVICE_IMAGE,
    answers,
    docker_client,
    docker_unavailable,
    wait_for,
)

pytestmark = pytest.mark.docker

SECRET = "compose-tests-" + secrets.token_hex(16)


def compose_command() -> list[str]:
    """The engine's compose plugin where present, else the standalone docker-compose."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose") is None:
        docker_unavailable("neither `docker compose` nor `docker-compose` is installed")
    return ["docker-compose"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def project() -> Iterator[tuple[list[str], dict[str, str], str]]:
    client = docker_client()
    name = f"users-compose-{secrets.token_hex(4)}"
    command = [*compose_command(), "--project-name", name, "--file", str(ROOT / "compose.yaml")]
    port = free_port()
    environment = os.environ | {
        "POSTGRES_IMAGE": POSTGRES_IMAGE,
        "USERS_SERVICE_IMAGE": SERVICE_IMAGE,
        "AUTH_JWT_SECRET": SECRET,
        "API_PORT": str(port),
    }
    try:
        yield command, environment, f"http://{LOOPBACK}:{port}"
    finally:
        subprocess.run(
            [*command, "down", "--volumes", "--remove-orphans"], env=environment, capture_output=True, check=False
        )
        label = {"label": f"com.docker.compose.project={name}"}
        for container in client.containers.list(all=True, filters=label):
            container.remove(force=True)
        client.close()


def test_compose_up_serves_the_api_and_down_leaves_nothing(project: tuple[list[str], dict[str, str], str]) -> None:
    command, environment, base_url = project
    up = subprocess.run(
        [*command, "up", "--detach", "--no-build"], env=environment, capture_output=True, text=True, check=False
    )
    assert up.returncode == 0, up.stderr

    wait_for(answers(f"{base_url}/readyz"), seconds=90, what="the API behind compose ready")
    headers = {"Authorization": f"Bearer {token('users:read', 'users:write', secret=SECRET)}"}
    created = httpx.post(
        f"{base_url}/users", json={"username": "composed", "email": "composed@example.com"}, headers=headers
    )
    assert created.status_code == 201, created.text
    found = httpx.get(f"{base_url}/users/{created.json()['id']}", headers=headers)
    assert found.json()["email"] == "composed@example.com"

    down = subprocess.run([*command, "down", "--volumes"], env=environment, capture_output=True, text=True, check=False)
    assert down.returncode == 0, down.stderr
    project_name = command[command.index("--project-name") + 1]
    label = {"label": f"com.docker.compose.project={project_name}"}
    client = docker_client()
    try:
        assert client.containers.list(all=True, filters=label) == []
        assert client.volumes.list(filters=label) == []
        assert client.networks.list(filters=label) == []
    finally:
        client.close()
