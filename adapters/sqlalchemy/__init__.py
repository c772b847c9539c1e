"""The SQL storage adapter, for PostgreSQL (asyncpg) and SQLite (aiosqlite): SQLAlchemy 2.x Core on an
``AsyncSession``, and on PostgreSQL the hot paths straight on the driver, with connections from SQLAlchemy's
pool (postgres_driver.py)."""

from adapters.sqlalchemy.engine import SqlReadiness, create_engine, create_session_factory
from adapters.sqlalchemy.per_database import create_unit_of_work, create_user_queries
from adapters.sqlalchemy.postgres_queries import PostgresUserQueries
from adapters.sqlalchemy.postgres_unit_of_work import PostgresUnitOfWork
from adapters.sqlalchemy.queries import SqlUserQueries
from adapters.sqlalchemy.unit_of_work import SqlUnitOfWork

__all__ = [
    "PostgresUnitOfWork",
    "PostgresUserQueries",
    "SqlReadiness",
    "SqlUnitOfWork",
    "SqlUserQueries",
    "create_engine",
    "create_session_factory",
    "create_unit_of_work",
    "create_user_queries",
]
