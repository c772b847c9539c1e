"""The SQL storage adapter: SQLAlchemy 2.x Core on an ``AsyncSession``, for PostgreSQL (asyncpg) and SQLite
(aiosqlite)."""

from adapters.sqlalchemy.engine import SqlReadiness, create_engine, create_session_factory
from adapters.sqlalchemy.queries import SqlUserQueries, create_user_queries
from adapters.sqlalchemy.unit_of_work import SqlUnitOfWork

__all__ = [
    "SqlReadiness",
    "SqlUnitOfWork",
    "SqlUserQueries",
    "create_engine",
    "create_session_factory",
    "create_user_queries",
]
