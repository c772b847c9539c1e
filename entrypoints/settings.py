"""Configuration, read from environment variables (and a ``.env`` file if present)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MEMORY_URL = "memory://"

_ASYNC_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}


def normalize_database_url(url: str) -> str:
    """Accept the usual spellings (``postgres://``, ``postgresql://``, ``sqlite:///``) and give back the URL
    of the async driver this service uses; refuse databases it does not support."""
    if url == MEMORY_URL:
        return url
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError("is not a database URL (expected memory://, postgresql://... or sqlite:///...)") from None
    backend = parsed.get_backend_name()
    driver = _ASYNC_DRIVERS.get(backend)
    if driver is None:
        raise ValueError(f"names the unsupported database {backend!r} (supported: postgresql, sqlite, memory)")
    if "+" in parsed.drivername and parsed.get_driver_name() != driver:
        raise ValueError(f"names the driver {parsed.get_driver_name()!r}; {backend} is used through {driver}")
    return parsed.set(drivername=f"{backend}+{driver}").render_as_string(hide_password=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = Field(
        default="sqlite+aiosqlite:///./users.db",
        description="memory:// for the in-memory adapter, else a PostgreSQL or SQLite URL",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    db_echo: bool = False
    # A fixed pool: overflow connections would be opened and closed again and again under a steady load.
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    # allow_inf_nan=False: "inf" would be a wait without end, the hang these settings are there to prevent.
    db_pool_timeout: float = Field(
        default=10.0, gt=0, allow_inf_nan=False, description="seconds to wait for a free connection"
    )
    db_connect_timeout: float = Field(
        default=5.0, gt=0, allow_inf_nan=False, description="seconds to wait for a new connection"
    )
    # PostgreSQL counts statement_timeout in whole milliseconds up to INT_MAX; a larger value would make it
    # refuse every connection, so it is refused here, at start-up, instead.
    db_statement_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=2_147_483,
        allow_inf_nan=False,
        description="seconds one SQL statement may run (waits for locks included) before PostgreSQL cancels it",
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console on a terminal, JSON lines otherwise"
    )
    shutdown_grace_seconds: int = Field(
        default=20, ge=0, description="on SIGTERM, how long in-flight requests may take to finish"
    )
    body_read_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        allow_inf_nan=False,
        description="seconds a client may take to send a request body after its head (408)",
    )
    idempotency_key_ttl_seconds: int = Field(
        default=24 * 60 * 60, gt=0, description="how long the answer to a request with an Idempotency-Key is kept"
    )

    # Bearer tokens (JWT). Exactly one key source, unless AUTH_DISABLED: the service refuses to serve /users
    # openly by accident.
    auth_disabled: bool = Field(default=False, description="serve /users to anyone (local experiments only)")
    auth_jwt_secret: SecretStr | None = Field(default=None, description="HS256 shared secret, >= 32 bytes")
    auth_jwt_secret_file: Path | None = Field(default=None, description="file holding the HS256 secret")
    auth_jwt_public_key_file: Path | None = Field(default=None, description="RS256 public key, PEM")
    auth_jwks_file: Path | None = Field(default=None, description="RS256 keys as a JWKS document, chosen by kid")
    auth_jwt_audience: str = Field(default="users-service", min_length=1, description="required aud claim")
    auth_jwt_issuer: str = Field(default="users-service", min_length=1, description="required iss claim")
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300, description="clock skew allowed on exp")
    metrics_require_auth: bool = Field(default=False, description="/metrics only with the metrics:read scope")

    # Browsers: no cross-origin access unless origins are listed (comma-separated, or *).
    cors_allow_origins: str = ""
    # Writes per client (token subject): a token bucket in this process; 0 turns the limit off.
    rate_limit_writes_per_second: float = Field(default=20.0, ge=0)
    rate_limit_write_burst: int = Field(default=40, ge=1)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        return normalize_database_url(value)

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        sources = {
            "AUTH_JWT_SECRET": self.auth_jwt_secret,
            "AUTH_JWT_SECRET_FILE": self.auth_jwt_secret_file,
            "AUTH_JWT_PUBLIC_KEY_FILE": self.auth_jwt_public_key_file,
            "AUTH_JWKS_FILE": self.auth_jwks_file,
        }
        given = [name for name, value in sources.items() if value is not None]
        if len(given) > 1:
            raise ValueError(f"{', '.join(given)}: set only one of them")
        for name, value in sources.items():
            if isinstance(value, Path) and not value.is_file():
                raise ValueError(f"{name}: {value} is not a readable file")
        return self

    def auth_key_sources(self) -> dict[str, str]:
        """The configured key material by kind (secret, public_key_pem, jwks_json): at most one entry."""
        if self.auth_jwt_secret is not None:
            return {"secret": self.auth_jwt_secret.get_secret_value()}
        if self.auth_jwt_secret_file is not None:
            return {"secret": self.auth_jwt_secret_file.read_text().strip()}
        if self.auth_jwt_public_key_file is not None:
            return {"public_key_pem": self.auth_jwt_public_key_file.read_text()}
        if self.auth_jwks_file is not None:
            return {"jwks_json": self.auth_jwks_file.read_text()}
        return {}

    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_allow_origins.split(",") if origin.strip()]

    @property
    def storage(self) -> Literal["memory", "sql"]:
        """Which storage serves: the in-memory one, or SQL (PostgreSQL or SQLite) through SQLAlchemy."""
        return "memory" if self.database_url == MEMORY_URL else "sql"


class ConfigurationError(Exception):
    """The environment does not describe a configuration the service can run with."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load_settings() -> Settings:
    """The settings from the environment, or a ``ConfigurationError`` naming each offending variable."""
    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            variable = "_".join(str(part) for part in item["loc"]).upper()
            message = str(item["msg"]).removeprefix("Value error, ")
            # A rule across variables names them itself.
            problems.append(f"{variable}: {message}" if variable else message)
        raise ConfigurationError(problems) from None
