"""Which implementation of each port a database gets: PostgreSQL, the service's production database, runs
its hot paths on the driver (postgres_driver.py says why); SQLite runs them through SQLAlchemy."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.sqlalchemy.postgres_queries import PostgresUserQueries
from adapters.sqlalchemy.postgres_unit_of_work import PostgresUnitOfWork
from adapters.sqlalchemy.queries import SqlUserQueries
from adapters.sqlalchemy.unit_of_work import SqlUnitOfWork
from application.queries import UserQueries
from application.unit_of_work import UnitOfWork


def create_user_queries(engine: AsyncEngine) -> UserQueries:
    """The read side for ``engine``'s database."""
    if engine.dialect.name == "postgresql":
        return PostgresUserQueries(engine)
    return SqlUserQueries(engine)


def create_unit_of_work(engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]) -> UnitOfWork:
    """A unit of work on ``engine``'s database; elsewhere than on PostgreSQL, on an ``AsyncSession`` from
    ``session_factory`` (bound to ``engine``)."""
    if engine.dialect.name == "postgresql":
        return PostgresUnitOfWork(engine)
    return SqlUnitOfWork(session_factory)
