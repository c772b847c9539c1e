"""What the PostgreSQL tests need and do not find is said, never passed over: a skip with the reason, or a
failure under REQUIRE_POSTGRES=1; the throw-away cluster of the restart test names what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import postgres_cluster
from tests.databases import postgres_unavailable
from tests.postgres_cluster import ClusterUnavailable


def test_without_require_postgres_a_missing_database_is_a_skip_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REQUIRE_POSTGRES", raising=False)

    with pytest.raises(pytest.skip.Exception, match="no pg_ctl here"):
        postgres_unavailable("no pg_ctl here")


def test_with_require_postgres_a_missing_database_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUIRE_POSTGRES", "1")

    with pytest.raises(pytest.fail.Exception, match="REQUIRE_POSTGRES=1 but no pg_ctl here"):
        postgres_unavailable("no pg_ctl here")


@pytest.fixture
def bare_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Nothing on PATH, no /usr/lib/postgresql."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(postgres_cluster, "_VERSIONED_BINARIES", tmp_path / "no-such-dir")
    return monkeypatch


def test_without_server_programs_no_cluster_is_made(bare_machine: pytest.MonkeyPatch) -> None:
    with pytest.raises(ClusterUnavailable, match="initdb, pg_ctl, postgres"), postgres_cluster.throwaway_cluster():
        pass


def test_as_root_without_runuser_no_cluster_is_made(bare_machine: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binaries = tmp_path / "15" / "bin"
    binaries.mkdir(parents=True)
    for program in ("initdb", "pg_ctl", "postgres"):
        (binaries / program).touch(mode=0o755)
    bare_machine.setattr(postgres_cluster, "_VERSIONED_BINARIES", tmp_path)
    bare_machine.setattr(postgres_cluster, "_running_as_root", lambda: True)

    with pytest.raises(ClusterUnavailable, match="runuser"), postgres_cluster.throwaway_cluster():
        pass
