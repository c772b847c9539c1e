"""A bulk import that loses a race to a concurrent registration on PostgreSQL skips that user, never crashes.

The in-memory version of this race is in tests/unit/test_bulk_import.py; here the database's unique index is
the judge (SQLite cannot have this race: it lets one unit of work in at a time).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import cast

import pytest

from adapters.sqlalchemy import Database, SqlUnitOfWork
from adapters.sqlalchemy.repository import SqlUserRepository
from adapters.sqlalchemy.statements import TransactionStatements
from application.bulk_export import export_users
from application.bulk_import import Row, import_users
from application.users import register_user
from tests.backends import Backend

pytestmark = pytest.mark.postgres


class RacedRepository(SqlUserRepository):
    """Right after the batch looked up which names are taken, another connection registers ``rival``."""

    def __init__(self, statements: TransactionStatements, backend: Backend, rival: dict[str, str]) -> None:
        super().__init__(statements)
        self._backend = backend
        self._rival = rival

    async def existing_keys(self, username_keys: Collection[str], emails: Collection[str]) -> tuple[set[str], set[str]]:
        taken = await super().existing_keys(username_keys, emails)
        if self._rival:
            rival, self._rival = self._rival, {}
            await register_user(self._backend.unit_of_work(), username=rival["username"], email=rival["email"])
        return taken


class RacedUnitOfWork(SqlUnitOfWork):
    def __init__(self, database: Database, backend: Backend, rival: dict[str, str]) -> None:
        super().__init__(database)
        self._backend = backend
        self._rival = rival

    async def _begin(self) -> None:
        await super()._begin()
        self.users = RacedRepository(cast(SqlUserRepository, self.users).statements, self._backend, self._rival)
        self._rival = {}  # once


@pytest.mark.parametrize(
    ("rival", "expected"),
    [
        ({"username": "USER2", "email": "rival@example.com"}, ["USER2", "user0", "user1", "user3"]),
        ({"username": "rival", "email": "user1@example.com"}, ["rival", "user0", "user2", "user3"]),
    ],
    ids=["username", "email"],
)
async def test_a_user_registered_meanwhile_is_skipped_and_the_rest_of_the_batch_created(
    postgres_backend: Backend, rival: dict[str, str], expected: list[str]
) -> None:
    await postgres_backend.reset()
    assert postgres_backend.database is not None
    uow = RacedUnitOfWork(postgres_backend.database, postgres_backend, rival)
    rows = [Row(n + 1, {"username": f"user{n}", "email": f"user{n}@example.com"}) for n in range(4)]

    report = await import_users(uow, rows)

    assert (report.created, report.duplicates, report.rejected) == (3, 1, [])
    assert sorted([user.username async for user in export_users(postgres_backend.queries())]) == expected
