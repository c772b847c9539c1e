"""The contract suites run on one more backend than the others: SQLAlchemy's portable adapters (the
AsyncSession unit of work and the Core read side, which SQLite uses) on PostgreSQL, where the service itself
runs its adapters on the driver. Both implementations of the SQL adapter are thus held to the contract on
both databases."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.backends import Backend
from tests.conftest import BACKENDS

_CONTRACT_BACKENDS = [*BACKENDS, pytest.param("postgres_portable", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
async def postgres_portable_backend(postgres_backend: Backend) -> Backend:
    return replace(postgres_backend, portable_sql=True)


@pytest.fixture(params=_CONTRACT_BACKENDS)
def any_backend(request: pytest.FixtureRequest) -> Backend:
    chosen: Backend = request.getfixturevalue(f"{request.param}_backend")
    return chosen
