"""``users-service import`` and ``export`` end to end, on SQLite and PostgreSQL.

The commands run in-process through Typer's runner, in a worker thread (each runs its own event loop, as on
the command line); one test runs the installed script itself, off a terminal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner, Result

from adapters.sqlalchemy import Database, migrations
from application.bulk_export import export_users
from application.users import register_user
from entrypoints.cli import app
from tests.backends import Backend

ROOT = Path(__file__).resolve().parents[2]
DATABASES = [pytest.param("sqlite", marks=pytest.mark.sqlite), pytest.param("postgres", marks=pytest.mark.postgres)]

Stored = tuple[str, str, str | None, bool]

CSV = (
    "username,email,full_name,is_active\n"
    "alice,Alice@Example.com,Alice Liddell,true\n"
    "bob,bob@example.com,,no\n"
    'carol,carol@example.com,"Carol, Ångström 山田",\n'
)
CSV_USERS: list[Stored] = [
    ("alice", "alice@example.com", "Alice Liddell", True),
    ("bob", "bob@example.com", None, False),
    ("carol", "carol@example.com", "Carol, Ångström 山田", True),
]


@pytest.fixture(params=DATABASES)
def cli_backend(request: pytest.FixtureRequest) -> Backend:
    chosen: Backend = request.getfixturevalue(f"{request.param}_backend")
    return chosen


@pytest.fixture
async def database(cli_backend: Backend) -> Backend:
    """SQLite or PostgreSQL, migrated, with no users."""
    await cli_backend.reset()
    return cli_backend


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # Each command sets up the service's logging on the root logger; leave the next test the root it had.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def cli(database_url: str, *args: str) -> Result:
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env={"DATABASE_URL": database_url})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


async def stored(backend: Backend) -> list[Stored]:
    return [
        (user.username, user.email, user.full_name, user.is_active) async for user in export_users(backend.queries())
    ]


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


def jsonl(*records: Mapping[str, object] | str) -> str:
    return "".join((record if isinstance(record, str) else json.dumps(record)) + "\n" for record in records)


def person(n: int) -> dict[str, object]:
    return {"username": f"user{n}", "email": f"user{n}@example.com"}


# --- import ----------------------------------------------------------------------------------------------------


async def test_a_csv_file_is_imported_and_importing_it_again_creates_nothing(database: Backend, tmp_path: Path) -> None:
    file = write(tmp_path / "users.csv", CSV)

    first = await cli(database.url, "import", str(file))
    again = await cli(database.url, "import", str(file))

    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == ["created: 3", "skipped as duplicates: 0", "rejected: 0"]
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == ["created: 0", "skipped as duplicates: 3", "rejected: 0"]
    assert await stored(database) == CSV_USERS


async def test_a_jsonl_file_is_imported_ignoring_what_only_export_writes(database: Backend, tmp_path: Path) -> None:
    file = write(
        tmp_path / "users.ndjson",
        jsonl(
            {"username": "dave", "email": "dave@example.com", "full_name": None, "is_active": False},
            "",
            {"id": "01a21181-bd09-709b-9bb2-be6aa88fb89a", "version": 7, "username": "erin", "email": "e@example.com"},
        ),
    )

    result = await cli(database.url, "import", str(file))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "created: 2"
    assert await stored(database) == [("dave", "dave@example.com", None, False), ("erin", "e@example.com", None, True)]


async def test_users_already_stored_or_repeated_in_the_file_are_skipped(database: Backend, tmp_path: Path) -> None:
    await register_user(database.unit_of_work(), username="Frank", email="frank@example.com")
    file = write(
        tmp_path / "users.jsonl",
        jsonl(
            {"username": "FRANK", "email": "other@example.com"},  # stored, whatever the case
            {"username": "grace", "email": "grace@example.com"},
            {"username": "heidi", "email": "GRACE@example.com"},  # repeats the line before
            {"username": "ivan", "email": "frank@EXAMPLE.com"},  # stored
        ),
    )

    result = await cli(database.url, "import", str(file), "--batch-size", "2")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["created: 1", "skipped as duplicates: 3", "rejected: 0"]
    assert [username for username, *_ in await stored(database)] == ["Frank", "grace"]


async def test_rejected_rows_are_listed_with_line_numbers_and_the_exit_status_is_1(
    database: Backend, tmp_path: Path
) -> None:
    file = write(
        tmp_path / "users.csv",
        "username,email,is_active\nx,x@example.com,\njudy,judy@example.com,\nkim,not-an-address,perhaps\n",
    )

    result = await cli(database.url, "import", str(file))

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "line 2: username: must be 3-32 characters of ASCII letters, digits, '_', '.' or '-', starting with a "
        "letter or digit",
        "line 4: email: is not a valid email address: An email address must have an @-sign.; is_active: must be "
        "one of true, false, yes, no, 1, 0 (any case), or empty for true",
        "created: 1",
        "skipped as duplicates: 0",
        "rejected: 2",
    ]
    assert [username for username, *_ in await stored(database)] == ["judy"]


async def test_a_jsonl_is_active_in_quotes_is_refused_naming_the_accepted_values(
    database: Backend, tmp_path: Path
) -> None:
    file = write(tmp_path / "users.jsonl", jsonl({**person(1), "is_active": "yes"}, {**person(2), "is_active": False}))

    result = await cli(database.url, "import", str(file))

    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        "line 1: is_active: must be true or false, a JSON boolean without quotes (or left out for true)"
    )
    assert await stored(database) == [("user2", "user2@example.com", None, False)]


async def test_many_rejections_show_the_first_twenty_and_say_how_to_see_all(database: Backend, tmp_path: Path) -> None:
    file = write(tmp_path / "users.jsonl", jsonl(*({"username": f"u{n}", "email": "bad"} for n in range(25))))

    result = await cli(database.url, "import", str(file))

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("line 1: username: ")
    assert lines[19].startswith("line 20: ")
    assert lines[20:] == [
        "... and 5 more (--rejects FILE writes them all)",
        "created: 0",
        "skipped as duplicates: 0",
        "rejected: 25",
    ]


async def test_the_rejects_file_gets_every_rejected_row_with_its_line_reason_and_text(
    database: Backend, tmp_path: Path
) -> None:
    records = [{"username": f"u{n}", "email": "bad"} if n % 2 else person(n) for n in range(60)]
    file = write(tmp_path / "users.jsonl", jsonl(*records[:40], "[1, 2]", *records[40:]))
    rejects = tmp_path / "rejects.jsonl"

    result = await cli(database.url, "import", str(file), "--rejects", str(rejects))

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[20:] == [
        f"... and 11 more (all in {rejects})",
        "created: 30",
        "skipped as duplicates: 0",
        f"rejected: 31, written to {rejects}",
    ]
    written = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [record["line"] for record in written] == [*range(2, 41, 2), 41, *range(43, 62, 2)]
    assert written[0] == {
        "line": 2,
        "reason": "username: must be 3-32 characters of ASCII letters, digits, '_', '.' or '-', starting with a "
        "letter or digit; email: is not a valid email address: An email address must have an @-sign.",
        "text": '{"username": "u1", "email": "bad"}',
    }
    assert written[20] == {
        "line": 41,
        "reason": 'is an array, not a JSON object like {"username": ..., "email": ...}',
        "text": "[1, 2]",
    }
    assert len(await stored(database)) == 30


async def test_a_rejects_file_that_cannot_be_written_stops_the_import_before_it_starts(
    database: Backend, tmp_path: Path
) -> None:
    file = write(tmp_path / "users.csv", CSV)

    missing = await cli(database.url, "import", str(file), "--rejects", str(tmp_path / "no" / "rejects.jsonl"))
    itself = await cli(database.url, "import", str(file), "--rejects", str(file))

    assert (missing.exit_code, itself.exit_code) == (2, 2)
    # The usage error comes in a box that wraps its text: compare the words only.
    assert "'--rejects': cannot write" in " ".join(missing.stderr.replace("│", " ").split())
    assert "is the file being imported" in " ".join(itself.stderr.replace("│", " ").split())
    assert file.read_text() == CSV
    assert await stored(database) == []


@pytest.mark.parametrize(
    ("name", "content", "reports"),
    [
        (
            "users.jsonl",
            jsonl(person(1), '["user2", "user2@example.com"]', person(3), '{"username": "user4",', person(5)),
            [
                'line 2: is an array, not a JSON object like {"username": ..., "email": ...}',
                "line 4: is not valid JSON (Expecting property name enclosed in double quotes at column 22)",
            ],
        ),
        (
            "users.csv",
            "username,email\nuser1,user1@example.com\nuser2,user2@example.com,extra\nuser3,user3@example.com\n"
            "x\nuser5,user5@example.com\n",
            [
                "line 3: has 3 fields where the header has 2 (username, email)",
                "line 5: has 1 field where the header has 2 (username, email)",
            ],
        ),
        (
            "users.csv",
            b"username,email\nuser1,user1@example.com\nuser2,u2@ex\xffmple.com\nuser3,user3@example.com\n"
            b'"user4"x,user4@example.com\nuser5,user5@example.com\n',
            [
                "line 3: is not valid UTF-8 (byte 0xff at column 12)",
                "line 5: is not valid CSV (',' expected after '\"')",
            ],
        ),
    ],
    ids=["jsonl", "csv-field-count", "csv-utf8-and-quoting"],
)
async def test_malformed_lines_are_reported_with_their_number_and_the_good_rows_imported(
    database: Backend, tmp_path: Path, name: str, content: str | bytes, reports: list[str]
) -> None:
    file = write(tmp_path / name, content)

    result = await cli(database.url, "import", str(file), "--batch-size", "2")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [*reports, "created: 3", "skipped as duplicates: 0", "rejected: 2"]
    assert [username for username, *_ in await stored(database)] == ["user1", "user3", "user5"]


async def test_a_csv_without_a_required_column_is_malformed_and_writes_nothing(
    database: Backend, tmp_path: Path
) -> None:
    file = write(tmp_path / "users.csv", "username,full_name\nlaura,Laura\n")

    result = await cli(database.url, "import", str(file))

    assert result.exit_code == 1
    assert "cannot import users.csv, line 1: missing required column(s) 'email' in the header: nothing was written" in (
        result.stderr
    )
    assert await stored(database) == []


async def test_a_dry_run_checks_everything_and_writes_nothing(database: Backend, tmp_path: Path) -> None:
    await register_user(database.unit_of_work(), username="mallory", email="mallory@example.com")
    file = write(
        tmp_path / "users.jsonl",
        jsonl(person(1), {"username": "Mallory", "email": "m2@example.com"}, person(1), person(2), {"username": "x"}),
    )

    result = await cli(database.url, "import", str(file), "--dry-run")

    assert result.exit_code == 1  # a row is rejected
    assert result.stdout.splitlines() == [
        "line 5: username: must be 3-32 characters of ASCII letters, digits, '_', '.' or '-', starting with a "
        "letter or digit; email: is required",
        "would create: 2",
        "skipped as duplicates: 2",
        "rejected: 1",
        "dry run: nothing was written",
    ]
    assert [username for username, *_ in await stored(database)] == ["mallory"]


async def test_a_clean_dry_run_exits_0(database: Backend, tmp_path: Path) -> None:
    result = await cli(database.url, "import", str(write(tmp_path / "users.csv", CSV)), "--dry-run")

    assert result.exit_code == 0, result.output
    assert await stored(database) == []


async def test_the_format_option_wins_over_the_extension(database: Backend, tmp_path: Path) -> None:
    file = write(tmp_path / "users.txt", jsonl(person(1)))

    unknown = await cli(database.url, "import", str(file))
    given = await cli(database.url, "import", str(file), "--format", "jsonl")

    assert unknown.exit_code == 2
    assert "cannot tell the format of 'users.txt'" in unknown.stderr
    assert given.exit_code == 0, given.output
    assert await stored(database) == [("user1", "user1@example.com", None, True)]


# --- export ----------------------------------------------------------------------------------------------------


async def test_export_then_import_into_an_empty_database_gives_the_same_users(
    database: Backend, tmp_path: Path
) -> None:
    await cli(database.url, "import", str(write(tmp_path / "users.csv", CSV)))
    exported = tmp_path / "export.jsonl"
    target = f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
    await asyncio.to_thread(migrations.upgrade, target)

    out = await cli(database.url, "export", "--output", str(exported))
    back = await cli(target, "import", str(exported))

    assert out.exit_code == 0, out.output
    assert out.stderr == f"exported 3 users to {exported}\n"
    assert back.exit_code == 0, back.output
    assert back.stdout.splitlines()[0] == "created: 3"
    records = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert [list(record) for record in records] == [
        ["id", "username", "email", "full_name", "is_active", "created_at", "updated_at", "version"]
    ] * 3
    assert [(r["username"], r["email"], r["full_name"], r["is_active"]) for r in records] == CSV_USERS
    target_database = Database.open(target)
    try:
        assert await stored(Backend("sqlite", url=target, database=target_database)) == CSV_USERS
    finally:
        await target_database.dispose()


async def test_export_writes_json_lines_to_stdout_a_page_at_a_time(database: Backend) -> None:
    for n in range(150):  # more than one page (100)
        await register_user(database.unit_of_work(), username=f"user{n}", email=f"user{n}@example.com")

    result = await cli(database.url, "export")

    assert result.exit_code == 0, result.output
    assert [json.loads(line)["username"] for line in result.stdout.splitlines()] == [f"user{n}" for n in range(150)]
    assert result.stderr == "exported 150 users\n"


# --- the database behind -----------------------------------------------------------------------------------------


@pytest.mark.sqlite
async def test_a_database_without_the_schema_is_refused_with_what_to_do(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"

    imported = await cli(url, "import", str(write(tmp_path / "users.csv", CSV)))
    exported = await cli(url, "export")

    head = ScriptDirectory.from_config(migrations.alembic_config(url)).get_current_head()
    for result in (imported, exported):
        assert result.exit_code == 3
        assert result.stderr == (
            f"database: schema not current in SQLite file {tmp_path / 'new.db'}: at revision base, the code needs "
            f"{head}\nhint: run `users-service migrate`\n"
        )


async def test_an_unreachable_database_is_two_clear_lines_and_exit_3(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:1/users"  # nothing listens on port 1

    imported = await cli(url, "import", str(write(tmp_path / "users.csv", CSV)))
    exported = await cli(url, "export")

    for command, result in (("import", imported), ("export", exported)):
        assert result.exit_code == 3
        assert result.stderr == (
            f"{command}: cannot connect to postgresql://postgres@127.0.0.1:1/users: connection refused\n"
            "hint: check the port in DATABASE_URL and that PostgreSQL runs there: "
            "`pg_isready -h 127.0.0.1 -p 1 -U postgres`\n"
        )


@pytest.mark.sqlite
async def test_an_export_that_cannot_write_its_file_says_so(sqlite_url: str, tmp_path: Path) -> None:
    output = tmp_path / "missing" / "users.jsonl"

    result = await cli(sqlite_url, "export", "--output", str(output))

    assert result.exit_code == 1
    assert result.stderr == f"export stopped: cannot write {output}: No such file or directory\n"


@pytest.mark.memory
async def test_memory_storage_imports_and_exports_within_one_command(tmp_path: Path) -> None:
    result = await cli("memory://", "import", str(write(tmp_path / "users.csv", CSV)))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "created: 3"
    assert (await cli("memory://", "export")).stdout == ""  # nothing outlives the process


# --- the installed command ---------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_the_installed_command_shows_no_progress_bar_off_a_terminal_and_exits_by_the_rules(
    sqlite_url: str, tmp_path: Path
) -> None:
    good = write(tmp_path / "good.jsonl", jsonl({"username": "nina", "email": "nina@example.com"}))
    bad = write(tmp_path / "bad.jsonl", jsonl({"username": "oscar", "email": "oscar@example"}, "[]"))
    command = str(Path(sys.executable).with_name("users-service"))
    env = os.environ | {"DATABASE_URL": sqlite_url}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([command, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)

    created, rejected, usage = run("import", str(good)), run("import", str(bad)), run("import", "--batch-size", "0")
    together = subprocess.run(  # stdout and stderr in one pipe, as `2>&1 | less` gives them
        [command, "import", str(bad)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )

    assert (created.returncode, rejected.returncode, usage.returncode) == (0, 1, 2)
    assert created.stdout == "created: 1\nskipped as duplicates: 0\nrejected: 0\n"
    assert created.stderr == ""  # no progress bar, no library log lines
    assert rejected.stdout.splitlines()[0].startswith("line 1: email: is not a valid email address")
    assert together.stdout.splitlines()[1:] == [
        'line 2: is an array, not a JSON object like {"username": ..., "email": ...}',
        "created: 0",
        "skipped as duplicates: 0",
        "rejected: 2",
    ]
