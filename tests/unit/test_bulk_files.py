"""The file formats of import and export: readers, the rows they cannot read, the export line, the rejects file,
and what the import shows."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from application.bulk_import import ImportReport, RejectedRow, Row, UnreadableRow
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
from entrypoints.bulk_rejects import reject_to_json_line, start_rejects_file, write_rejects

CSV_FLAG = "must be one of true, false, yes, no, 1, 0 (any case), or empty for true"
JSON_FLAG = "must be true or false, a JSON boolean without quotes (or left out for true)"


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
        Row(
            2,
            {"username": "alice", "email": "alice@example.com", "full_name": "Alice Liddell", "is_active": True},
            "alice,alice@example.com,Alice Liddell,true",
        ),
        Row(3, {"username": "bob", "email": "bob@example.com"}, "bob,bob@example.com,,"),
        Row(
            5,
            {"username": "carol", "email": "carol@example.com", "full_name": "Carol, Second", "is_active": False},
            'carol,carol@example.com,"Carol, Second",No',
        ),
    ]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        *[("true", True), ("TRUE", True), ("1", True), ("yes", True), (" Yes ", True)],
        *[("false", False), ("0", False), ("no", False), ("NO", False)],
    ],
)
def test_csv_is_active_spellings(cell: str, expected: bool) -> None:
    [row] = read_csv(lines(f"username,email,is_active\nalice,a@example.com,{cell}\n"))

    assert isinstance(row, Row)
    assert row.fields["is_active"] is expected


def test_a_csv_is_active_of_another_spelling_is_a_problem_naming_the_accepted_ones() -> None:
    [row] = read_csv(lines("username,email,is_active\nalice,a@example.com,maybe\n"))

    assert row == Row(
        2,
        {"username": "alice", "email": "a@example.com"},
        "alice,a@example.com,maybe",
        (FieldError("is_active", CSV_FLAG),),
    )


def test_csv_columns_in_any_order_optional_ones_absent_export_ones_ignored() -> None:
    text = (
        "\ufeffEmail,id,USERNAME,version\r\n"  # a byte-order mark and CRLF, as spreadsheets write them
        "alice@example.com,01a2,alice,3\r\n"
    )

    assert list(read_csv(lines(text))) == [
        Row(2, {"email": "alice@example.com", "username": "alice"}, "alice@example.com,01a2,alice,3")
    ]


def test_a_csv_row_spanning_lines_is_numbered_by_its_first_line() -> None:
    text = 'username,email,full_name\nalice,a@example.com,"two\nlines"\nbob,b@example.com,\n'

    found = list(read_csv(lines(text)))

    assert [row.line for row in found] == [2, 4]
    assert found[0].text == 'alice,a@example.com,"two\nlines"'


def test_a_csv_row_with_the_wrong_number_of_fields_is_unreadable_and_the_reader_reads_on() -> None:
    text = "username,email\nalice,a@example.com\nbob,b@example.com,extra\ncarol,c@example.com\n"

    assert list(read_csv(lines(text)))[1:] == [
        UnreadableRow(3, "has 3 fields where the header has 2 (username, email)", "bob,b@example.com,extra"),
        Row(4, {"username": "carol", "email": "c@example.com"}, "carol,c@example.com"),
    ]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("username,full_name", "missing required column(s) 'email' in the header"),
        (
            "user,email",
            "unknown column(s) 'user' (known: username, email, full_name, is_active; created_at, id, updated_at, "
            "version as export writes them, ignored)",
        ),
        ("username,email,Email", "repeated column(s) 'email'"),
    ],
)
def test_a_bad_csv_header_is_malformed_at_its_line(header: str, message: str) -> None:
    error = malformed(read_csv, f"\n{header}\nalice,a@example.com\n")

    assert (error.line, error.problem) == (2, message)


def test_an_empty_csv_file_is_malformed() -> None:
    assert str(malformed(read_csv, "")) == "line 1: no header row (the file is empty)"
    assert malformed(read_csv, "\n\n").line == 2


def test_a_csv_row_of_invalid_utf8_is_unreadable_at_its_line_and_the_reader_reads_on() -> None:
    found = list(read_csv(lines(b"username,email\nal\xe9,a@example.com\nbob,b@example.com\n")))

    assert found == [
        UnreadableRow(2, "is not valid UTF-8 (byte 0xe9 at column 3)", "al\\xe9,a@example.com"),
        Row(3, {"username": "bob", "email": "b@example.com"}, "bob,b@example.com"),
    ]


def test_a_csv_header_of_invalid_utf8_is_malformed() -> None:
    assert str(malformed(read_csv, b"user\xffname,email\nbob,b@example.com\n")) == (
        "line 1: is not valid UTF-8 (byte 0xff at column 5)"
    )


def test_broken_csv_quoting_is_unreadable_and_the_reader_reads_on() -> None:
    found = list(read_csv(lines('username,email\nalice,a@example.com\n"bob"x,b@example.com\ncarol,c@example.com\n')))

    assert isinstance(found[1], UnreadableRow)
    assert (found[1].line, found[1].text) == (3, '"bob"x,b@example.com')
    assert found[1].problem.startswith("is not valid CSV (")
    assert found[2] == Row(4, {"username": "carol", "email": "c@example.com"}, "carol,c@example.com")


# --- JSON Lines ------------------------------------------------------------------------------------------------


def test_jsonl_rows_come_with_their_line_number_blank_lines_skipped_export_fields_dropped() -> None:
    text = (
        '{"username": "alice", "email": "a@example.com", "full_name": null, "is_active": false}\n'
        "\n"
        "   \n"
        '{"id": "01a2", "username": "bob", "email": "b@example.com", "version": 2, "created_at": "x",'
        ' "updated_at": "y", "nickname": "b"}\n'
    )

    found = list(read_jsonl(lines(text)))

    assert [(row.line, row.fields) for row in found if isinstance(row, Row)] == [
        (1, {"username": "alice", "email": "a@example.com", "full_name": None, "is_active": False}),
        (4, {"username": "bob", "email": "b@example.com", "nickname": "b"}),  # the use case refuses nickname
    ]
    assert found[0].text == text.splitlines()[0]


def test_invalid_json_is_unreadable_at_its_line_and_the_reader_reads_on() -> None:
    text = '{"username": "bob",\n{"username": "carol"}\n'

    assert list(read_jsonl(lines(text))) == [
        UnreadableRow(
            1,
            "is not valid JSON (Expecting property name enclosed in double quotes at column 20)",
            '{"username": "bob",',
        ),
        Row(2, {"username": "carol"}, '{"username": "carol"}'),
    ]


@pytest.mark.parametrize(
    ("line", "kind"), [('["alice"]', "an array"), ('"alice"', "a string"), ("42", "a number"), ("null", "null")]
)
def test_a_json_line_that_is_no_object_is_unreadable_and_says_what_it_is(line: str, kind: str) -> None:
    assert list(read_jsonl(lines(f"\n{line}\n"))) == [
        UnreadableRow(2, f'is {kind}, not a JSON object like {{"username": ..., "email": ...}}', line)
    ]


def test_invalid_utf8_in_json_lines_is_unreadable_at_its_line() -> None:
    [_, row] = read_jsonl(lines(b'{"username": "a"}\n{"username": "\xff"}\n'))

    assert row == UnreadableRow(2, "is not valid UTF-8 (byte 0xff at column 15)", '{"username": "\\xff"}')


@pytest.mark.parametrize("flag", ['"yes"', '"true"', "1", "null"])
def test_a_json_is_active_that_is_no_boolean_is_a_problem_naming_the_accepted_values(flag: str) -> None:
    text = f'{{"username": "alice", "email": "a@example.com", "is_active": {flag}}}'

    assert list(read_jsonl(lines(text + "\n"))) == [
        Row(1, {"username": "alice", "email": "a@example.com"}, text, (FieldError("is_active", JSON_FLAG),))
    ]


def test_read_rows_picks_the_reader_of_the_format() -> None:
    assert list(read_rows(lines('{"username": "a"}\n'), "jsonl")) == [Row(1, {"username": "a"}, '{"username": "a"}')]
    assert list(read_rows(lines("username,email\na,b\n"), "csv")) == [Row(2, {"username": "a", "email": "b"}, "a,b")]


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
    assert [(row.line, row.fields) for row in read_jsonl(lines(line)) if isinstance(row, Row)] == [
        (1, {"username": "zoe", "email": "zoe@example.com", "full_name": "Zoë Ångström", "is_active": True})
    ]


# --- what the import shows -------------------------------------------------------------------------------------


# --- the rejects file ------------------------------------------------------------------------------------------


def test_a_reject_is_one_json_line_with_its_line_reason_and_text() -> None:
    line = reject_to_json_line(RejectedRow(7, "email: is required", "Zoë,,yes"))

    assert line == '{"line": 7, "reason": "email: is required", "text": "Zoë,,yes"}\n'


def test_the_rejects_file_is_emptied_before_the_import_and_then_holds_every_reject(tmp_path: Path) -> None:
    source, rejects = tmp_path / "users.csv", tmp_path / "rejects.jsonl"
    source.write_text("username,email\n")
    rejects.write_text("from an earlier run\n")

    start_rejects_file(rejects, source)
    assert rejects.read_text() == ""
    write_rejects(rejects, [RejectedRow(n, "username: is required", f"row {n}") for n in range(2, 32)])

    records = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [record["line"] for record in records] == list(range(2, 32))
    assert records[0] == {"line": 2, "reason": "username: is required", "text": "row 2"}


def test_the_rejects_file_may_not_be_the_input_or_in_a_missing_directory(tmp_path: Path) -> None:
    source = tmp_path / "users.csv"
    source.write_text("username,email\n")

    with pytest.raises(ValueError, match="is the file being imported"):
        start_rejects_file(tmp_path / "." / "users.csv", source)
    with pytest.raises(OSError, match=r"cannot write .*missing/rejects\.jsonl: No such file or directory"):
        start_rejects_file(tmp_path / "missing" / "rejects.jsonl", source)
    assert source.read_text() == "username,email\n"


# --- what the import shows -------------------------------------------------------------------------------------


def test_the_summary_lists_the_rejected_rows_then_counts() -> None:
    report = ImportReport(created=3, duplicates=1, rejected=[RejectedRow(4, "email: is required")])

    assert summary(report) == ["line 4: email: is required", "created: 3", "skipped as duplicates: 1", "rejected: 1"]


def test_the_summary_shows_the_first_twenty_rejections_and_how_to_see_the_others() -> None:
    rejected = [RejectedRow(n, "username: is required") for n in range(2, 27)]

    shown = summary(ImportReport(rejected=rejected))
    written = summary(ImportReport(rejected=rejected), rejects_file=Path("rejects.jsonl"))

    assert shown[0] == "line 2: username: is required"
    assert shown[19] == "line 21: username: is required"
    assert shown[20:] == [
        "... and 5 more (--rejects FILE writes them all)",
        "created: 0",
        "skipped as duplicates: 0",
        "rejected: 25",
    ]
    assert written[20:] == [
        "... and 5 more (all in rejects.jsonl)",
        "created: 0",
        "skipped as duplicates: 0",
        "rejected: 25, written to rejects.jsonl",
    ]


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
