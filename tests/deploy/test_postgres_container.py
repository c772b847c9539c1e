"""PostgreSQL from testcontainers: a failure to get the image is reported as what it is."""

from __future__ import annotations

import pytest

from tests.databases import PostgresUnavailable, postgres_server
from tests.deploy.engine import docker_client

pytestmark = pytest.mark.docker


def test_an_image_that_cannot_be_had_is_reported_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    docker_client().close()  # an engine answers
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("TEST_POSTGRES_IMAGE", "users-service-tests/no-such-image:0")

    with pytest.raises(PostgresUnavailable) as raised, postgres_server():
        pass

    message = str(raised.value)
    assert "the container of users-service-tests/no-such-image:0 could not be started" in message
    assert "no Docker daemon" not in message
