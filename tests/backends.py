"""One storage backend under test (memory, SQLite or PostgreSQL), with what the suites need from it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import pytest
from dependency_injector import providers
from sqlalchemy import delete

from adapters.memory import MemoryStore, MemoryUnitOfWork, MemoryUserQueries
from adapters.sqlalchemy import Database, SqlUnitOfWork, SqlUserQueries
from adapters.sqlalchemy.stale_connections import once_more_if_found_dead
from adapters.sqlalchemy.tables import idempotency_keys, users
from application.queries import UserQueries
from application.unit_of_work import UnitOfWork
from entrypoints.container import Container
from entrypoints.settings import MEMORY_URL
from tests.auth import app_settings


@dataclass
class Backend:
    name: str
    url: str = MEMORY_URL
    database: Database | None = None
    store: MemoryStore = field(default_factory=MemoryStore)

    def unit_of_work(self) -> UnitOfWork:
        if self.database is None:
            return MemoryUnitOfWork(self.store)
        return SqlUnitOfWork(self.database)

    def queries(self) -> UserQueries:
        if self.database is None:
            return MemoryUserQueries(self.store)
        return SqlUserQueries(self.database)

    async def reset(self) -> None:
        """Start the next test, or the next example of a property-based one, from an empty store."""
        if self.database is None:
            # Emptied in place: an app already built on this backend (the stateful tests' one) sees it too.
            for index in fields(self.store):
                getattr(self.store, index.name).clear()
            return
        engine = self.database.engine

        async def empty() -> None:
            async with engine.begin() as connection:
                await connection.execute(delete(users))
                await connection.execute(delete(idempotency_keys))

        # A test may have left dead connections in the pool (the outage tests kill them): as the app does.
        await once_more_if_found_dead(empty)

    def container(self) -> Container:
        """The app's container, configured for this backend and sharing its database or store."""
        container = Container()
        container.settings.override(providers.Object(app_settings(database_url=self.url)))
        if self.database is None:
            container.storage().store.override(providers.Object(self.store))
        else:
            container.storage().database.override(providers.Object(self.database))
        return container


def on_backends(*names: str) -> pytest.MarkDecorator:
    """Run a test (or a module, as its ``pytestmark``) on these backends only, rather than on all three: for
    the slow property-based suites, memory for speed and PostgreSQL as production's storage."""
    return pytest.mark.parametrize(
        "any_backend", [pytest.param(name, marks=getattr(pytest.mark, name)) for name in names], indirect=True
    )
