"""The SQL storage adapter, for PostgreSQL and SQLite: on SQLite, SQLAlchemy 2.x Core on an ``AsyncSession``
(aiosqlite); on PostgreSQL the same ports straight on asyncpg, with a pool of its own (postgres_driver.py and
postgres_pool.py say why). SQLAlchemy's adapters work on PostgreSQL too, and the contract suites hold them to
it there."""

from adapters.sqlalchemy.engine import DriverReadiness, SqlReadiness, create_engine, create_session_factory
from adapters.sqlalchemy.postgres_pool import DriverPool
from adapters.sqlalchemy.postgres_queries import PostgresUserQueries
from adapters.sqlalchemy.postgres_unit_of_work import PostgresUnitOfWork
from adapters.sqlalchemy.queries import SqlUserQueries
from adapters.sqlalchemy.unit_of_work import SqlUnitOfWork

__all__ = [
    "DriverPool",
    "DriverReadiness",
    "PostgresUnitOfWork",
    "PostgresUserQueries",
    "SqlReadiness",
    "SqlUnitOfWork",
    "SqlUserQueries",
    "create_engine",
    "create_session_factory",
]
