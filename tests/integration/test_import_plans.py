"""A bulk import's look-up of taken names keeps using the indexes however stale the table's statistics are.

PostgreSQL may switch a prepared statement to a generic plan after five executions; one made while the table
was small scans the whole table for every batch after it (docs/decisions/0003-import-plans.md).
"""

from __future__ import annotations

from typing import cast

import pytest
from sqlalchemy import text

from adapters.sqlalchemy.repository import SqlUserRepository
from domain.users import User
from tests.backends import Backend

pytestmark = pytest.mark.postgres

_ROWS = 20_000


def _users(first: int, count: int) -> list[User]:
    return [User.register(username=f"user{n}", email=f"user{n}@example.com") for n in range(first, first + count)]


async def test_the_batch_look_up_uses_the_indexes_after_many_executions_on_a_grown_table(
    postgres_backend: Backend,
) -> None:
    backend = postgres_backend
    await backend.reset()
    assert backend.database is not None
    async with backend.database.connection() as connection:
        # Statistics of an empty table, never refreshed while it grows (as with autovacuum off or lagging).
        await connection.execute(text("ALTER TABLE users SET (autovacuum_enabled = false)"))
        await connection.execute(text("ANALYZE users"))
        await connection.commit()
    try:
        async with backend.unit_of_work() as uow:
            await uow.users.add_many(_users(0, 50))
            asked = [f"user{n}" for n in range(0, 2_000, 2)]
            for _ in range(8):  # past the five custom plans after which PostgreSQL weighs a generic one
                await uow.users.existing_keys(asked, [])
            await uow.users.add_many(_users(50, _ROWS))
            taken, _ = await uow.users.existing_keys(asked, [])
            assert len(taken) == len(asked)

            connection = cast(SqlUserRepository, uow.users).statements.connection
            name, generic_plans, custom_plans = (
                await connection.execute(
                    text(
                        "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements"
                        " WHERE statement LIKE '%username_key = ANY%' AND statement NOT LIKE '%pg_prepared_statements%'"
                    )
                )
            ).one()
            plan = "\n".join(
                row[0]
                for row in await connection.execute(
                    text(f"EXPLAIN EXECUTE {name}(ARRAY['user1', 'user2'], ARRAY['a@example.com'])")
                )
            )
    finally:
        async with backend.database.connection() as connection:
            await connection.execute(text("ALTER TABLE users RESET (autovacuum_enabled)"))
            await connection.commit()
        await backend.reset()

    # The pooled connection may have run the statement for an earlier test too: at least these nine, all custom.
    assert generic_plans == 0
    assert custom_plans >= 9
    assert "Index" in plan, plan
    assert "Seq Scan" not in plan, plan
