"""The composition root: the one place that chooses the adapters and wires them to the ports.

``DATABASE_URL`` decides: ``memory://`` gives the in-memory adapter, any SQLAlchemy URL the SQL one.
Tests and embedding applications swap a part with ``container.<provider>.override(...)``, e.g.

    container = Container()
    with container.unit_of_work.override(providers.Factory(MemoryUnitOfWork, store)):
        ...
"""

from __future__ import annotations

from datetime import UTC, datetime

from dependency_injector import containers, providers

from adapters.memory import MemoryReadiness, MemoryStore, MemoryUnitOfWork, MemoryUserQueries
from adapters.sqlalchemy import (
    DriverPool,
    DriverReadiness,
    PostgresUnitOfWork,
    PostgresUserQueries,
    SqlReadiness,
    SqlUnitOfWork,
    SqlUserQueries,
    create_engine,
    create_session_factory,
)
from entrypoints import __version__
from entrypoints.http.rate_limits import write_limiter_from_settings
from entrypoints.metrics import Metrics, driver_pool_gauges, engine_pool_gauges
from entrypoints.settings import Settings
from entrypoints.tokens import verifier_from_settings


def system_clock() -> datetime:
    return datetime.now(UTC)


class Container(containers.DeclarativeContainer):
    settings = providers.Singleton(Settings)
    # What "now" is for the expiry of idempotency keys: tests put a clock of their own here to step over a key's
    # lifetime instead of waiting it out.
    clock = providers.Object(system_clock)

    # Built on first use, shared by every request; disposed by the app's lifespan. DB_ECHO is applied by the
    # logging set-up (entrypoints.logs), so that SQL statements come out through the service's log handler.
    engine = providers.Singleton(
        create_engine,
        url=settings.provided.database_url,
        pool_size=settings.provided.db_pool_size,
        max_overflow=settings.provided.db_max_overflow,
        pool_timeout=settings.provided.db_pool_timeout,
        connect_timeout=settings.provided.db_connect_timeout,
        statement_timeout=settings.provided.db_statement_timeout_seconds,
    )
    session_factory = providers.Singleton(create_session_factory, engine)
    # PostgreSQL's connections for the adapters on the driver (adapters/sqlalchemy/postgres_pool.py); opened on
    # first use, closed by the app's lifespan.
    driver_pool = providers.Singleton(
        DriverPool,
        url=settings.provided.database_url,
        size=settings.provided.db_pool_size,
        max_overflow=settings.provided.db_max_overflow,
        timeout=settings.provided.db_pool_timeout,
        connect_timeout=settings.provided.db_connect_timeout,
        statement_timeout=settings.provided.db_statement_timeout_seconds,
    )
    memory_store = providers.Singleton(MemoryStore)

    # A new unit of work for each use-case call: the use case opens and closes it (`async with uow:`), so no
    # per-request resource is left for the container to clean up. PostgreSQL's adapters run on the driver
    # (adapters/sqlalchemy/postgres_driver.py), SQLite's on SQLAlchemy's AsyncSession and Core.
    unit_of_work = providers.Selector(
        settings.provided.database,
        memory=providers.Factory(MemoryUnitOfWork, store=memory_store),
        sqlite=providers.Factory(SqlUnitOfWork, session_factory=session_factory),
        postgresql=providers.Factory(PostgresUnitOfWork, pool=driver_pool),
    )
    # Reads that decide nothing: no unit of work, one statement each (see application/queries.py).
    user_queries = providers.Selector(
        settings.provided.database,
        memory=providers.Factory(MemoryUserQueries, store=memory_store),
        sqlite=providers.Singleton(SqlUserQueries, engine=engine),
        postgresql=providers.Singleton(PostgresUserQueries, pool=driver_pool),
    )
    readiness = providers.Selector(
        settings.provided.database,
        memory=providers.Singleton(MemoryReadiness),
        sqlite=providers.Singleton(SqlReadiness, engine=engine),
        postgresql=providers.Singleton(DriverReadiness, pool=driver_pool),
    )

    # Bearer-token checks and the write rate limit, one of each per app (entrypoints/http/access_control.py).
    token_verifier = providers.Singleton(verifier_from_settings, settings)
    write_limiter = providers.Singleton(write_limiter_from_settings, settings)

    # The app's own Prometheus registry. The connection pool is read at each scrape.
    metrics = providers.Singleton(
        Metrics,
        version=__version__,
        database_pool=providers.Selector(
            settings.provided.database,
            memory=providers.Object(None),
            sqlite=providers.Callable(engine_pool_gauges, engine.provider),
            postgresql=providers.Callable(driver_pool_gauges, driver_pool.provider),
        ),
    )


async def close_storage(container: Container) -> None:
    """Close the connection pool that the container's storage opened (the app's lifespan, each CLI command)."""
    database = container.settings().database
    if database == "postgresql":
        await container.driver_pool().close()
    elif database == "sqlite":
        await container.engine().dispose()
