"""The file formats of import and export: readers, their errors, the export line, and what the import shows."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from application.bulk_import import ImportReport, RejectedRow
from domain.errors import FieldError
from domain.users import User
from entrypoints.bulk_files import (
    MalformedFile,
    UnknownFormat,
    format_of,
    read_csv,
    read_jsonl,
    read_rows,
    user_to_json_line,
)
from entrypoints.bulk_progress import ImportProgress, summary


def lines(text: str | bytes) -> list[bytes]:
    """The file's lines as a file opened in binary mode gives them."""
    raw = text.encode() if isinstance(text, str) else text
    return io.BytesIO(raw).readlines()


def malformed(reader: object, text: str | bytes) -> MalformedFile:
    assert callable(reader)
    with pytest.raises(MalformedFile) as caught:
        list(reader(lines(text)))
    return caught.value


# --- the format ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"), [("a.csv", "csv"), ("A.CSV", "csv"), ("a.jsonl", "jsonl"), ("a.ndjson", "jsonl")]
)
def test_the_format_comes_from_the_extension(name: str, expected: str) -> None:
    assert format_of(Path(name)) == expected


def test_a_given_format_wins_over_the_extension() -> None:
    assert format_of(Path("users.txt"), "JSONL") == "jsonl"
    assert format_of(Path("users.jsonl"), "csv") == "csv"


def test_an_unknown_extension_or_format_is_a_clear_error() -> None:
    with pytest.raises(UnknownFormat, match=r"'users\.txt'.*--format csv\|jsonl"):
        format_of(Path("users.txt"))
    with pytest.raises(UnknownFormat, match="unknown format 'xml'"):
        format_of(Path("users.csv"), "xml")


# --- CSV -------------------------------------------------------------------------------------------------------


def test_csv_rows_come_with_their_line_number_and_typed_fields() -> None:
    text = (
        "username,email,full_name,is_active\n"
        "alice,alice@example.com,Alice Liddell,true\n"
        "bob,bob@example.com,,\n"
        "\n"
        'carol,carol@example.com,"Carol, Second",No\n'
    )

    assert list(read_csv(lines(text))) == [
        (2, {"username": "alice", "email": "alice@example.com", "full_name": "Alice Liddell", "is_active": True}),
        (3, {"username": "bob", "email": "bob@example.com"}),
        (5, {"username": "carol", "email": "carol@example.com", "full_name": "Carol, Second", "is_active": False}),
    ]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        *[("true", True), ("TRUE", True), ("1", True), ("yes", True), (" Yes ", True)],
        *[("false", False), ("0", False), ("no", False), ("NO", False)],
    ],
)
def test_csv_is_active_spellings(cell: str, expected: bool) -> None:
    [(_, fields)] = read_csv(lines(f"username,email,is_active\nalice,a@example.com,{cell}\n"))

    assert fields["is_active"] is expected


def test_a_csv_is_active_of_another_spelling_is_left_for_the_rules_to_refuse() -> None:
    [(_, fields)] = read_csv(lines("username,email,is_active\nalice,a@example.com,maybe\n"))

    assert fields["is_active"] == "maybe"


def test_csv_columns_in_any_order_optional_ones_absent_export_ones_ignored() -> None:
    text = (
        "\ufeffEmail,id,USERNAME,version\r\n"  # a byte-order mark and CRLF, as spreadsheets write them
        "alice@example.com,01a2,alice,3\r\n"
    )

    assert list(read_csv(lines(text))) == [(2, {"email": "alice@example.com", "username": "alice"})]


def test_a_csv_row_spanning_lines_is_numbered_by_its_first_line() -> None:
    text = 'username,email,full_name\nalice,a@example.com,"two\nlines"\nbob,b@example.com,\n'

    assert [line for line, _ in read_csv(lines(text))] == [2, 4]


def test_a_csv_row_with_the_wrong_number_of_fields_is_malformed() -> None:
    error = malformed(read_csv, "username,email\nalice,a@example.com\nbob,b@example.com,extra\n")

    assert error.line == 3
    assert str(error) == "line 3: has 3 fields where the header has 2"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("username,full_name", "missing required column(s) 'email' in the header"),
        ("user,email", "unknown column(s) 'user' (known: username, email, full_name, is_active)"),
        ("username,email,Email", "repeated column(s) 'email'"),
    ],
)
def test_a_bad_csv_header_is_malformed_at_its_line(header: str, message: str) -> None:
    error = malformed(read_csv, f"\n{header}\nalice,a@example.com\n")

    assert (error.line, error.problem) == (2, message)


def test_an_empty_csv_file_is_malformed() -> None:
    assert str(malformed(read_csv, "")) == "line 1: no header row (the file is empty)"
    assert malformed(read_csv, "\n\n").line == 2


def test_invalid_utf8_is_malformed_at_its_line() -> None:
    error = malformed(read_csv, b"username,email\nal\xe9,a@example.com\n")

    assert str(error) == "line 2: is not valid UTF-8 (byte 0xe9 at column 3)"


def test_broken_csv_quoting_is_malformed() -> None:
    error = malformed(read_csv, 'username,email\nalice,a@example.com\n"bob"x,b@example.com\n')

    assert error.line == 3
    assert "is not valid CSV" in error.problem


# --- JSON Lines ------------------------------------------------------------------------------------------------


def test_jsonl_rows_come_with_their_line_number_blank_lines_skipped_export_fields_dropped() -> None:
    text = (
        '{"username": "alice", "email": "a@example.com", "full_name": null, "is_active": false}\n'
        "\n"
        "   \n"
        '{"id": "01a2", "username": "bob", "email": "b@example.com", "version": 2, "created_at": "x",'
        ' "updated_at": "y", "nickname": "b"}\n'
    )

    assert list(read_jsonl(lines(text))) == [
        (1, {"username": "alice", "email": "a@example.com", "full_name": None, "is_active": False}),
        (4, {"username": "bob", "email": "b@example.com", "nickname": "b"}),  # the use case refuses nickname
    ]


def test_invalid_json_is_malformed_at_its_line() -> None:
    error = malformed(read_jsonl, '{"username": "alice", "email": "a@example.com"}\n{"username": "bob",\n')

    assert str(error) == "line 2: is not valid JSON (Expecting property name enclosed in double quotes at column 20)"


def test_a_json_line_that_is_no_object_is_malformed() -> None:
    assert str(malformed(read_jsonl, '\n["alice"]\n')) == "line 2: is JSON, but not an object (found list)"


def test_invalid_utf8_in_json_lines_is_malformed_at_its_line() -> None:
    assert malformed(read_jsonl, b'{"username": "a"}\n{"username": "\xff"}\n').line == 2


def test_read_rows_picks_the_reader_of_the_format() -> None:
    assert list(read_rows(lines('{"username": "a"}\n'), "jsonl")) == [(1, {"username": "a"})]
    assert list(read_rows(lines("username,email\na,b\n"), "csv")) == [(2, {"username": "a", "email": "b"})]


# --- the export line -------------------------------------------------------------------------------------------


def test_an_exported_user_is_one_json_line_in_the_api_shape_that_imports_back() -> None:
    user = User.register(
        username="zoe", email="Zoe@Example.com", full_name="Zoë Ångström", now=datetime(2026, 11, 25, 7, tzinfo=UTC)
    )

    line = user_to_json_line(user)

    assert line.endswith("\n")
    assert line.count("\n") == 1
    assert json.loads(line) == {
        "id": str(user.id),
        "username": "zoe",
        "email": "zoe@example.com",
        "full_name": "Zoë Ångström",
        "is_active": True,
        "created_at": "2026-11-25T07:00:00Z",
        "updated_at": "2026-11-25T07:00:00Z",
        "version": 1,
    }
    assert list(read_jsonl(lines(line))) == [
        (1, {"username": "zoe", "email": "zoe@example.com", "full_name": "Zoë Ångström", "is_active": True})
    ]


# --- what the import shows -------------------------------------------------------------------------------------


def test_the_summary_counts_and_lists_the_rejected_rows() -> None:
    report = ImportReport(created=3, duplicates=1, rejected=[RejectedRow(4, (FieldError("email", "is required"),))])

    assert summary(report) == ["created: 3", "skipped as duplicates: 1", "rejected: 1", "  line 4: email: is required"]


def test_the_summary_shows_the_first_twenty_rejections_and_how_many_more() -> None:
    rejected = [RejectedRow(n, (FieldError("username", "is required"),)) for n in range(2, 27)]

    shown = summary(ImportReport(rejected=rejected))

    assert shown[2] == "rejected: 25"
    assert shown[3] == "  line 2: username: is required"
    assert shown[22] == "  line 21: username: is required"
    assert shown[23:] == ["  ... and 5 more"]


def test_the_summary_of_a_dry_run_says_so() -> None:
    assert summary(ImportReport(dry_run=True, created=2)) == [
        "would create: 2",
        "skipped as duplicates: 0",
        "rejected: 0",
        "dry run: nothing was written",
    ]


def test_on_a_terminal_the_progress_bar_shows_rows_rate_and_time_left() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)

    with ImportProgress(1000, console=console) as progress:
        progress.update(500, ImportReport(created=1200, duplicates=34))

    shown = screen.getvalue()
    assert "importing" in shown
    assert "50%" in shown
    assert "1,234 rows" in shown
    assert "rows/s" in shown
    assert "ETA" in shown


def test_off_a_terminal_there_is_no_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    with ImportProgress(1000) as progress:  # pytest's captured stderr is no terminal
        progress.update(500, ImportReport(created=10))

    assert capsys.readouterr() == ("", "")
