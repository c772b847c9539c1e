"""The composition root: the one place that chooses the adapters and wires them to the ports.

``DATABASE_URL`` decides: ``memory://`` gives the in-memory storage, any SQLAlchemy URL the SQL one. Tests and
embedding applications swap a part with ``override``, e.g.

    container = Container()
    container.storage().unit_of_work.override(providers.Factory(MyUnitOfWork))
"""

from __future__ import annotations

from datetime import UTC, datetime

from dependency_injector import containers, providers

from adapters.memory import MemoryReadiness, MemoryStore, MemoryUnitOfWork, MemoryUserQueries
from adapters.sqlalchemy import Database, SqlReadiness, SqlUnitOfWork, SqlUserQueries, database_lifetime
from entrypoints import __version__
from entrypoints.http.rate_limits import write_limiter_from_settings
from entrypoints.metrics import Metrics, database_pool_gauges
from entrypoints.settings import Settings
from entrypoints.tokens import verifier_from_settings


def system_clock() -> datetime:
    return datetime.now(UTC)


class MemoryStorage(containers.DeclarativeContainer):
    """Everything in one process's memory: for tests and throw-away runs."""

    store = providers.Singleton(MemoryStore)
    unit_of_work = providers.Factory(MemoryUnitOfWork, store=store)
    user_queries = providers.Factory(MemoryUserQueries, store=store)
    readiness = providers.Singleton(MemoryReadiness)
    pool_gauges: providers.Provider[None] = providers.Object(None)


class SqlStorage(containers.DeclarativeContainer):
    """PostgreSQL or SQLite through SQLAlchemy: one engine, shared by every request."""

    settings = providers.Dependency(instance_of=Settings)
    database = providers.Singleton(
        Database.open,
        url=settings.provided.database_url,
        pool_size=settings.provided.db_pool_size,
        max_overflow=settings.provided.db_max_overflow,
        pool_timeout=settings.provided.db_pool_timeout,
        connect_timeout=settings.provided.db_connect_timeout,
        statement_timeout=settings.provided.db_statement_timeout_seconds,
    )
    # Closes the engine's connections at shutdown_resources() (the app's lifespan, each CLI command). Requests
    # take the database from the singleton: see docs/decisions/0001-one-sql-adapter.md.
    lifetime = providers.Resource(database_lifetime, database)
    # A new unit of work for each use-case call, which opens and closes it (`async with uow:`).
    unit_of_work = providers.Factory(SqlUnitOfWork, database=database)
    # Reads that decide nothing: no unit of work, one statement each (see application/queries.py).
    user_queries = providers.Singleton(SqlUserQueries, database=database)
    readiness = providers.Singleton(SqlReadiness, database=database)
    pool_gauges = providers.Callable(database_pool_gauges, database.provider)


class Container(containers.DeclarativeContainer):
    settings = providers.Singleton(Settings)
    # What "now" is for the expiry of idempotency keys: tests put a clock of their own here to step over a key's
    # lifetime instead of waiting it out.
    clock = providers.Object(system_clock)

    # The one choice of storage; each kind holds unit_of_work, user_queries, readiness and pool_gauges.
    storage = providers.Selector(
        settings.provided.storage,
        memory=providers.Container(MemoryStorage),
        sql=providers.Container(SqlStorage, settings=settings),
    )

    # Bearer-token checks and the write rate limit, one of each per app (entrypoints/http/access_control.py).
    token_verifier = providers.Singleton(verifier_from_settings, settings)
    write_limiter = providers.Singleton(write_limiter_from_settings, settings)

    # The app's own Prometheus registry. The connection pool is read at each scrape.
    metrics = providers.Singleton(Metrics, version=__version__, database_pool=storage.provided.pool_gauges.call())
