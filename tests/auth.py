"""Credentials for the tests: the key the test apps and servers trust, and tokens signed with it."""

from __future__ import annotations

from typing import Any

from entrypoints.settings import Settings
from entrypoints.tokens import READ_SCOPE, WRITE_SCOPE, mint_token

TEST_SECRET = "secret-for-tests-only-" + "0123456789abcdef" * 2
AUDIENCE = "users-service"
ISSUER = "users-service"

# What a test server or app is started with: the test key, and no write rate limit (tests write in bursts;
# the limit has tests of its own).
SERVER_ENVIRONMENT = {"AUTH_JWT_SECRET": TEST_SECRET, "RATE_LIMIT_WRITES_PER_SECOND": "0"}


def app_settings(**values: Any) -> Settings:
    """Settings for a test app: the test key and no write rate limit, unless ``values`` say otherwise."""
    defaults: dict[str, Any] = {"auth_jwt_secret": TEST_SECRET, "rate_limit_writes_per_second": 0}
    return Settings.model_validate(defaults | values)


def token(*scopes: str, subject: str = "tests", lifetime_seconds: int = 3600, secret: str = TEST_SECRET) -> str:
    return mint_token(
        secret, subject=subject, scopes=scopes, audience=AUDIENCE, issuer=ISSUER, lifetime_seconds=lifetime_seconds
    )


def bearer(*scopes: str, subject: str = "tests") -> dict[str, str]:
    """The Authorization header of a caller with ``scopes`` (by default: read and write)."""
    return {"Authorization": f"Bearer {token(*(scopes or (READ_SCOPE, WRITE_SCOPE)), subject=subject)}"}
