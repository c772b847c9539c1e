"""How fast does ``users-service import`` register users? Not a test: run it by hand.

    .venv/bin/python -m benchmarks.import_users                      # 100,000 users, throw-away PostgreSQL db
    .venv/bin/python -m benchmarks.import_users --rows 20000 --database-url sqlite:///bench.db

It writes N generated users to a temporary CSV file and runs the real command on it (``users-service import``
in a child process, as a user would: start-up and schema check included), then prints the elapsed seconds and
rows per second. Without ``--database-url`` it creates a fresh database on the PostgreSQL server at
``--server`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it, and drops it at the end.
A given ``--database-url`` must be migrated already (``users-service migrate``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.sqlalchemy import migrations
from adapters.sqlalchemy.tables import users
from benchmarks.seed import DEFAULT_SERVER_URL, ROOT, USERS_SERVICE, ServerDatabases
from entrypoints.settings import normalize_database_url


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def write_csv(path: Path, rows: int) -> None:
    run = secrets.token_hex(3)
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["username", "email", "full_name", "is_active"])
        for n in range(rows):
            writer.writerow([f"u{run}_{n}", f"u{run}.{n}@example.com", f"Person Number {n}", "false" if n % 7 else ""])


async def _count(database_url: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(select(func.count()).select_from(users))).scalar_one())
    finally:
        await engine.dispose()


@contextmanager
def throwaway_database(server: str) -> Iterator[str]:
    databases = ServerDatabases(server)  # the load benchmark's: it drops only what it created
    created = asyncio.run(databases.create())
    try:
        url = normalize_database_url(created)
        migrations.upgrade(url)
        yield url
    finally:
        asyncio.run(databases.drop(created))


IMPORT_TARGET_SECONDS = 15.0  # for 100,000 users


@dataclass(frozen=True)
class ImportFigures:
    rows: int
    seconds: float
    created: int
    created_again: int
    """What a second import of the same file created: nothing, if duplicates are found."""

    @property
    def rows_per_second(self) -> float:
        return self.created / self.seconds if self.seconds else 0.0


def measure(rows: int, *, batch_size: int = 1000, server: str = DEFAULT_SERVER_URL) -> ImportFigures:
    """Import ``rows`` generated users into a throw-away database, then the same file again. Blocking."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "users.csv"
        write_csv(path, rows)
        with throwaway_database(server) as url:
            elapsed = run_import(url, path, batch_size)
            created = asyncio.run(_count(url))
            run_import(url, path, batch_size)
            again = asyncio.run(_count(url)) - created
    return ImportFigures(rows, round(elapsed, 2), created, again)


def run_import(database_url: str, path: Path, batch_size: int) -> float:
    command = [
        USERS_SERVICE,
        "import",
        str(path),
        "--batch-size",
        str(batch_size),
    ]
    env = os.environ | {"DATABASE_URL": database_url}
    started = time.perf_counter()
    completed = subprocess.run(  # noqa: S603 - our own command, no shell
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"the import failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}")
    say(completed.stdout.strip())
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="users to import (default: 100000)")
    parser.add_argument("--batch-size", type=int, default=1000, help="--batch-size of the import (default: 1000)")
    parser.add_argument("--database-url", help="a migrated database to import into (default: a throw-away one)")
    parser.add_argument(
        "--server",
        default=DEFAULT_SERVER_URL,
        help="the PostgreSQL server for the throw-away database",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "users.csv"
        write_csv(path, args.rows)
        say(f"{args.rows} users in {path.stat().st_size / 1e6:.1f} MB of CSV")
        given = normalize_database_url(args.database_url) if args.database_url else None
        with nullcontext(given) if given else throwaway_database(args.server) as url:
            before = asyncio.run(_count(url))
            elapsed = run_import(url, path, args.batch_size)
            created = asyncio.run(_count(url)) - before
    say(f"{created} users imported in {elapsed:.2f} s: {created / elapsed:,.0f} rows/s")
    if created != args.rows:
        sys.exit(f"expected {args.rows} new users, found {created}")


if __name__ == "__main__":
    main()
