"""Configuration, read from environment variables (and a ``.env`` file if present)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, field_validator
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
    # A fixed pool: overflow connections are opened and closed again under steady load (measured: -25%).
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

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        return normalize_database_url(value)

    @property
    def storage(self) -> Literal["memory", "sql"]:
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
            variable = "_".join(str(part) for part in item["loc"]).upper() or "configuration"
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{variable}: {message}")
        raise ConfigurationError(problems) from None
