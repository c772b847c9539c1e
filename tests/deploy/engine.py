"""The Docker engine and images the container tests use, and small waits on containers.

The tests run when a Docker engine answers and the service image exists (`make image`); otherwise they are
skipped with the reason, unless ``REQUIRE_DOCKER=1`` (CI), which turns that skip into a failure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import httpx
import pytest

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

SERVICE_IMAGE = os.environ.get("TEST_SERVICE_IMAGE", "users-service:latest")
POSTGRES_IMAGE = os.environ.get("TEST_POSTGRES_IMAGE", "postgres:16-alpine")
LOOPBACK = "127.0.0.1"


def docker_unavailable(what: str) -> NoReturn:
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"REQUIRE_DOCKER=1 but {what}", pytrace=False)
    pytest.skip(what)


def docker_client() -> DockerClient:
    """A client of the engine that answers, with both images present; else a skip (or failure) saying which
    is missing."""
    import docker
    from docker.errors import DockerException, ImageNotFound

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as error:
        docker_unavailable(f"no Docker engine answers ({type(error).__name__})")
    for image, how in ((SERVICE_IMAGE, "make image"), (POSTGRES_IMAGE, "docker pull, or .ci/build-images")):
        try:
            client.images.get(image)
        except ImageNotFound:
            client.close()
            docker_unavailable(f"the image {image} is missing ({how})")
    return client


def published_port(container: Container, port: int) -> int:
    container.reload()
    return int(container.ports[f"{port}/tcp"][0]["HostPort"])


def address_on(container: Container, network: str) -> str:
    container.reload()
    address: str = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    return address


def wait_for(check: Callable[[], bool], *, seconds: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(interval)


def answers(url: str, status: int = 200) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == status
        except httpx.HTTPError:
            return False

    return check
