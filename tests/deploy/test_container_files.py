"""The image and the compose stack are what they promise to be (read from the files: no Docker engine runs
in CI)."""

from __future__ import annotations

import fnmatch
import re

from tests.deploy.container_files import ROOT, compose, dockerfile_stages, dockerignore_patterns


def test_the_image_is_built_in_stages_on_a_slim_python() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    for stage in stages:
        assert re.fullmatch(r"python:3\.1[1-9]-slim", stage.base), stage.base
        assert stage.written_base == "${PYTHON_IMAGE}", "a build argument, for machines without the registry"
    runtime = stages[-1]
    copied = [instruction.arguments for instruction in runtime.all("COPY")]
    assert all(argument.startswith("--from=") for argument in copied), "the runtime stage copies only build output"


def test_dependencies_are_installed_from_the_hash_locked_file_without_a_cache() -> None:
    build = dockerfile_stages()[0]
    installs = [i.arguments for i in build.all("RUN") if "pip install" in i.arguments]
    assert any("--require-hashes" in run and "requirements/app.lock" in run for run in installs)
    assert build.env().get("PIP_NO_CACHE_DIR") == "1"


def test_the_runtime_stage_has_no_build_tools() -> None:
    runtime = dockerfile_stages()[-1]
    for run in runtime.all("RUN"):
        assert not re.search(r"apt-get|apk add|gcc|build-essential|pip install", run.arguments), run.arguments


def test_the_service_runs_as_a_non_root_user() -> None:
    runtime = dockerfile_stages()[-1]
    user = runtime.last("USER").arguments.split(":")[0]
    assert user not in {"root", "0", ""}
    assert any("useradd" in run.arguments and user in run.arguments for run in runtime.all("RUN"))


def test_it_listens_on_all_interfaces_on_port_8000_inside_the_container() -> None:
    runtime = dockerfile_stages()[-1]
    assert runtime.last("EXPOSE").arguments == "8000"
    env = runtime.env()
    assert env["HOST"] == "0.0.0.0"
    assert env["PORT"] == "8000"
    assert env["LOG_FORMAT"] == "json"


def test_the_healthcheck_asks_healthz() -> None:
    healthcheck = dockerfile_stages()[-1].last("HEALTHCHECK")
    assert "/healthz" in healthcheck.arguments
    assert "--interval=" in healthcheck.arguments


def test_the_start_command_is_the_serve_command_without_reload() -> None:
    runtime = dockerfile_stages()[-1]
    command = runtime.last("CMD").exec_form()
    assert command == ["users-service", "serve"]
    assert "--reload" not in runtime.last("CMD").arguments
    assert runtime.last("STOPSIGNAL").arguments == "SIGTERM"


def test_everything_the_image_copies_exists_and_reaches_the_build_context() -> None:
    patterns = dockerignore_patterns()
    sources: list[str] = []
    for copy in dockerfile_stages()[0].all("COPY"):
        *paths, _destination = copy.arguments.split()
        sources.extend(path for path in paths if not path.startswith("--"))
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        if source.endswith("/"):  # a directory: what .dockerignore lets in of it
            assert any(pattern.startswith("!" + source) for pattern in patterns), f"{source} is excluded"
        else:
            assert _in_context(source, patterns), f"{source} is excluded by .dockerignore"


def test_the_build_context_leaves_out_local_state() -> None:
    patterns = dockerignore_patterns()
    for path in [
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "users.db",
        ".env",
        "coverage.xml",
        ".dev/jwt-secret",
    ]:
        assert not _in_context(path, patterns), f"{path} would be sent to the Docker build"


def _in_context(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes."""
    included = True
    for pattern in patterns:
        bare = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/"):
            included = pattern.startswith("!")
    return included


def test_compose_runs_the_service_against_a_healthy_postgres_with_a_named_volume() -> None:
    stack = compose()
    db, api = stack["services"]["db"], stack["services"]["api"]

    assert db["image"] == "${POSTGRES_IMAGE:-postgres:16-alpine}"
    volume, _, mount = db["volumes"][0].partition(":")
    assert mount == "/var/lib/postgresql/data"
    assert volume in stack["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])

    assert api["build"]["context"] == "."
    assert api["image"] == "${USERS_SERVICE_IMAGE:-users-service:latest}"
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["ports"] == ["127.0.0.1:${API_PORT:-8000}:8000"]
    assert "@db:5432/" in api["environment"]["DATABASE_URL"]


def test_compose_gives_in_flight_requests_time_to_finish() -> None:
    api = compose()["services"]["api"]
    grace = int(api["environment"]["SHUTDOWN_GRACE_SECONDS"])
    stop_grace = int(str(api["stop_grace_period"]).removesuffix("s"))
    assert stop_grace > grace


def test_compose_will_not_start_the_api_without_a_token_key() -> None:
    api = compose()["services"]["api"]
    # ${VAR:?message}: compose stops with the message when the operator has not set it.
    assert api["environment"]["AUTH_JWT_SECRET"].startswith("${AUTH_JWT_SECRET:?")
    assert "AUTH_DISABLED" not in api["environment"]
