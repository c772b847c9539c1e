"""The README's quick start, pasted into bash as a reader would, works against the real server."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from entrypoints.settings import Settings
from entrypoints.tokens import READ_SCOPE
from tests.auth import token
from tests.server_process import ROOT, running_server

pytestmark = [pytest.mark.smoke, pytest.mark.sqlite]

README = ROOT / "README.md"
# Each shell block that follows this marker comment is one a reader pastes, in the README's order.
_QUICK_START = re.compile(r"<!-- quick-start\b[^>]*-->\s*```sh\n(.*?)```", re.DOTALL)
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def quick_start() -> str:
    """The marked blocks, joined as a reader pastes them one after the other into one shell."""
    blocks: list[str] = _QUICK_START.findall(README.read_text())
    assert blocks, "README.md has no shell block marked <!-- quick-start -->"
    return "\n".join(blocks)


def checkout_like(directory: Path, secret: str) -> Path:
    """A folder laid out as a checkout is after `make run`: the virtual environment in .venv and a development
    secret in .dev/jwt-secret. The checkout's own .dev/ is left alone."""
    (directory / ".dev").mkdir(parents=True)
    (directory / ".dev" / "jwt-secret").write_text(secret + "\n")
    (directory / ".venv").symlink_to(Path(sys.executable).parents[1], target_is_directory=True)
    return directory


def run_block(block: str, *, cwd: Path, base_url: str) -> subprocess.CompletedProcess[str]:
    # Only what a shell of a new user has; BASE points the block at the test's server.
    environment = {"PATH": os.environ["PATH"], "HOME": str(cwd), "LANG": "C.UTF-8", "BASE": base_url}
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_quick_start_runs_as_written_and_can_be_pasted_again(tmp_path: Path) -> None:
    assert shutil.which("curl") is not None, "the quick start needs curl on PATH"
    block = quick_start()
    secret = secrets.token_urlsafe(48)
    checkout = checkout_like(tmp_path / "checkout", secret)
    default_write_limit = Settings.model_fields["rate_limit_writes_per_second"].default
    server_environment = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'users.db'}",
        # As `make run` configures the server: the development secret (given by value here, in place of the
        # test key) and the default write limit (test servers otherwise turn it off).
        "AUTH_JWT_SECRET": secret,
        "RATE_LIMIT_WRITES_PER_SECOND": str(default_write_limit),
    }
    with running_server(server_environment) as server:
        for attempt in ("first", "second"):
            result = run_block(block, cwd=checkout, base_url=server.base_url)
            assert result.returncode == 0, (
                f"the quick start failed on its {attempt} run (exit {result.returncode}):\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
            output = result.stdout
            registered = re.search(rf"^registered ({_UUID})$", output, re.MULTILINE)
            assert registered is not None, output
            alice = registered.group(1)
            # Read back as registered (the email lower-cased), then changed under If-Match to version 2.
            assert f'"id":"{alice}","username":"alice","email":"alice@example.com","full_name":null' in output
            assert (
                f'"id":"{alice}","username":"alice","email":"alice@example.com","full_name":"Alice Liddell"' in output
            )
            assert '"version":2' in output
            assert re.search(rf"^201 /users/{_UUID} replayed: true$", output, re.MULTILINE), output
            # Two pages of one user each: alice, then bob on the last page.
            assert output.count('"next_cursor":') == 2, output
            assert output.count('"next_cursor":null') == 1, output
            assert re.findall(r"^204$", output, re.MULTILINE) == ["204", "204"], output

        # It deleted what it made, so the second run could make it again.
        reader = {"Authorization": f"Bearer {token(READ_SCOPE, secret=secret)}"}
        remaining = httpx.get(f"{server.base_url}/users", headers=reader, timeout=5)
    assert remaining.status_code == 200, remaining.text
    assert remaining.json()["items"] == []
