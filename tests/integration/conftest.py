from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.sqlalchemy import migrations
from tests.databases import postgres_unavailable, throwaway_database
from tests.postgres_cluster import ClusterUnavailable, PostgresCluster, throwaway_cluster

DATABASES = [pytest.param("sqlite", marks=pytest.mark.sqlite), pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def empty_database_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    if kind == "postgres":
        request.getfixturevalue("postgres_server_url")
    return kind


@pytest.fixture
async def empty_database_url(
    empty_database_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """A database with no schema at all, made for this one test."""
    if empty_database_kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    async with throwaway_database(request.getfixturevalue("postgres_server_url")) as url:
        yield url


@pytest.fixture
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL server of this test's own, migrated to head, that the test may stop, crash and start
    again; stopped and deleted at the end, whatever happened."""
    try:
        with throwaway_cluster() as cluster:
            migrations.upgrade(cluster.url)
            yield cluster
    except ClusterUnavailable as error:
        postgres_unavailable(f"no throw-away PostgreSQL cluster can be made: {error}")
