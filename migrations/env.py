"""Alembic environment: async engines (asyncpg, aiosqlite), or a connection handed in by a caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from logging.config import fileConfig

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from adapters.sqlalchemy.tables import metadata
from entrypoints.settings import normalize_database_url

# Any constant works, as long as every replica uses the same one: it names "the migration" to PostgreSQL.
MIGRATION_LOCK_KEY = 0x75736572  # "user"

config = context.config
if config.config_file_name is not None and not config.attributes.get("keep_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from entrypoints.settings import Settings  # only for the bare `alembic` command line

    return Settings().database_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        migration = context.get_context()
        before = migration.get_current_revision()
        context.run_migrations()
        # What this run did, for the caller to report (adapters/sqlalchemy/migrations.py): (from, to) revision.
        config.attributes["revisions"] = (before, migration.get_current_revision())


@asynccontextmanager
async def _one_migrator_at_a_time(connection: AsyncConnection) -> AsyncIterator[None]:
    """On PostgreSQL, hold a session advisory lock while migrating: replicas that start together each run the
    migrations, the first one upgrades, the others wait for it and then find nothing left to do."""
    if connection.dialect.name != "postgresql":
        yield
        return
    await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    await connection.commit()  # the lock belongs to the session and outlives this transaction
    try:
        yield
    finally:
        await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await connection.commit()


async def _run_async() -> None:
    url = normalize_database_url(_database_url())
    timeout = config.attributes.get("connect_timeout")
    # The service's DB_CONNECT_TIMEOUT, when the caller passes it (asyncpg's own default is a minute).
    options = {"connect_args": {"timeout": timeout}} if timeout is not None and url.startswith("postgresql") else {}
    engine = create_async_engine(url, **options)
    try:
        async with engine.connect() as connection, _one_migrator_at_a_time(connection):
            await connection.run_sync(_configure)
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(url=_database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif isinstance(given := config.attributes.get("connection"), Connection):
    _configure(given)
else:
    asyncio.run(_run_async())
