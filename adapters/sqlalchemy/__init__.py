"""The SQL storage adapter, on SQLAlchemy 2 async: PostgreSQL through asyncpg, SQLite through aiosqlite."""

from adapters.sqlalchemy.database import Database, create_engine, database_lifetime
from adapters.sqlalchemy.queries import SqlUserQueries
from adapters.sqlalchemy.readiness import SqlReadiness
from adapters.sqlalchemy.unit_of_work import SqlUnitOfWork

__all__ = ["Database", "SqlReadiness", "SqlUnitOfWork", "SqlUserQueries", "create_engine", "database_lifetime"]
