"""The token keys as an operator configures them: `serve` refuses to start without a usable key (exit 2, the
variable named), and `users-service token` mints what the server accepts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from entrypoints.tokens import JwtVerifier
from tests.auth import TEST_SECRET
from tests.server_process import ROOT, USERS_SERVICE


def _run(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": "memory://"}
    return subprocess.run(
        [USERS_SERVICE, *arguments], env=base | env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "AUTH_JWT_SECRET: no token key is configured"),
        ({"AUTH_JWT_SECRET": "short"}, "AUTH_JWT_SECRET: the secret must be at least 32 bytes long"),
        ({"AUTH_JWT_SECRET": TEST_SECRET, "AUTH_JWKS_FILE": "/etc/hostname"}, "AUTH_JWT_SECRET, AUTH_JWKS_FILE:"),
        ({"AUTH_JWKS_FILE": "/nonexistent/jwks.json"}, "AUTH_JWKS_FILE: /nonexistent/jwks.json is not a readable"),
        ({"AUTH_JWT_PUBLIC_KEY_FILE": "/etc/hostname"}, "AUTH_JWT_PUBLIC_KEY_FILE: the public key is not an RSA"),
    ],
)
def test_serve_refuses_to_start_without_a_usable_key(env: dict[str, str], message: str) -> None:
    result = _run("serve", env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"configuration error: {message}"), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_token_mints_what_the_server_accepts(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(TEST_SECRET + "\n")
    result = _run(
        "token",
        "--scope",
        "users:write",
        "--scope",
        "users:read",
        "--subject",
        "ci",
        env={"AUTH_JWT_SECRET_FILE": str(secret_file)},
    )
    assert result.returncode == 0, result.stderr
    principal = JwtVerifier(audience="users-service", issuer="users-service", secret=TEST_SECRET).verify(
        result.stdout.strip()
    )
    assert principal.subject == "ci"
    assert principal.scopes == {"users:read", "users:write"}


@pytest.mark.parametrize(
    ("arguments", "env", "message"),
    [
        (["--scope", "users:admin"], {"AUTH_JWT_SECRET": TEST_SECRET}, "unknown scope users:admin"),
        ([], {}, "token needs the HS256 secret"),
    ],
)
def test_token_refuses_what_it_cannot_mint(arguments: list[str], env: dict[str, str], message: str) -> None:
    result = _run("token", *arguments, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
