"""Configuration, read from environment variables (and a ``.env`` file if present)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
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
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for a free connection")
    db_connect_timeout: float = Field(default=5.0, gt=0, description="seconds to wait for a new connection")

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        return normalize_database_url(value)

    @property
    def storage(self) -> Literal["memory", "sql"]:
        return "memory" if self.database_url == MEMORY_URL else "sql"
