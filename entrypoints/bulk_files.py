"""The file formats of ``users-service import`` and ``export``: CSV and JSON Lines, both UTF-8.

Readers take the file's raw lines (a file opened in binary mode) and yield a ``Row`` per record, or an
``UnreadableRow`` for a line they cannot read (invalid JSON or UTF-8, a CSV row with the wrong number of
fields) and read on. Only a file that cannot be read at all (a CSV file without a usable header row) raises
``MalformedFile``. A row that is well-formed but breaks a rule of the domain is not their business: the import
use case rejects it.

- CSV: a header row naming the columns (``username`` and ``email`` required, ``full_name`` and
  ``is_active`` optional, in any order); an empty ``full_name`` means none, ``is_active`` is one of
  true/false/1/0/yes/no (any case) and empty means true. Blank lines are ignored.
- JSON Lines (``.jsonl``, ``.ndjson``): one JSON object per line with the same fields (``full_name`` may be
  null, ``is_active`` is a JSON boolean and defaults to true). Blank lines are ignored.

In both, the fields that only ``export`` writes (``id``, ``created_at``, ``updated_at``, ``version``) are
ignored, so an export imports back as it is: the users get new ids, timestamps and versions.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from application.bulk_import import IMPORT_FIELDS, REQUIRED_FIELDS, Row, UnreadableRow
from domain.errors import FieldError
from domain.users import User

FileFormat = Literal["csv", "jsonl"]
FORMATS: Final[tuple[FileFormat, ...]] = ("csv", "jsonl")
EXTENSIONS: Final[dict[str, FileFormat]] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
EXPORT_ONLY_FIELDS: Final = frozenset({"id", "created_at", "updated_at", "version"})

_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no"})
_BOM: Final = "\ufeff"
# What each format accepts for is_active, said where a value is refused.
_CSV_FLAG: Final = "must be one of true, false, yes, no, 1, 0 (any case), or empty for true"
_JSON_FLAG: Final = "must be true or false, a JSON boolean without quotes (or left out for true)"
_JSON_TYPES: Final[dict[type, str]] = {list: "an array", str: "a string", int: "a number", float: "a number"}


class MalformedFile(Exception):
    """The file cannot be read as the format it claims to be; ``line`` is where it went wrong (1-based)."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


class UnknownFormat(ValueError):
    pass


def format_of(path: Path, given: str | None = None) -> FileFormat:
    """The format named by ``given``, else by the file's extension; ``UnknownFormat`` if neither says."""
    if given is not None:
        for known in FORMATS:
            if given.lower() == known:
                return known
        raise UnknownFormat(f"unknown format {given!r} (choose from: {', '.join(FORMATS)})")
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise UnknownFormat(
            f"cannot tell the format of {path.name!r} from its extension "
            f"({', '.join(EXTENSIONS)}): pass --format {'|'.join(FORMATS)}"
        )
    return found


def read_rows(lines: Iterable[bytes], file_format: FileFormat) -> Iterator[Row | UnreadableRow]:
    return read_csv(lines) if file_format == "csv" else read_jsonl(lines)


def _not_utf8(raw: bytes, error: UnicodeDecodeError) -> str:
    return f"is not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1})"


class _CsvLines:
    """The file's lines as text for the csv module, remembering what the reader reports a row with: the text of
    the lines handed out since the row before, and the first of them that was not UTF-8."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = iter(lines)
        self.count = 0  # lines handed out so far
        self.pending: list[str] = []
        self.not_utf8: tuple[int, str] | None = None

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        raw = next(self._lines)
        self.count += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            if self.not_utf8 is None:
                self.not_utf8 = (self.count, _not_utf8(raw, error))
            text = raw.decode("utf-8", "backslashreplace")  # the row is refused; its text still shows the bytes
        if self.count == 1:
            text = text.removeprefix(_BOM)
        self.pending.append(text)
        return text

    def take(self) -> tuple[int, str]:
        """The first line number and the text (without its last line end) of the lines since the last take."""
        pending = self.pending
        first = self.count - len(pending) + 1
        text = (pending[0] if len(pending) == 1 else "".join(pending)).rstrip("\r\n")
        pending.clear()
        return first, text


def read_csv(lines: Iterable[bytes]) -> Iterator[Row | UnreadableRow]:
    source = _CsvLines(lines)
    reader = csv.reader(source, strict=True)
    header: list[str] | None = None
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            line, text = source.take()
            source.not_utf8 = None
            if header is None:
                raise MalformedFile(line, f"is not valid CSV ({error})") from None
            yield UnreadableRow(line, f"is not valid CSV ({error})", text)
            continue
        line, text = source.take()
        if source.not_utf8 is not None:
            where, problem = source.not_utf8
            source.not_utf8 = None
            if header is None:
                raise MalformedFile(where, problem)
            yield UnreadableRow(where, problem, text)
            continue
        if not cells:
            continue  # a blank line
        if header is None:
            header = _checked_header(cells, line)
            continue
        if len(cells) != len(header):
            fields_found = f"{len(cells)} field" + ("" if len(cells) == 1 else "s")
            problem = f"has {fields_found} where the header has {len(header)} ({', '.join(header)})"
            yield UnreadableRow(line, problem, text)
            continue
        fields, problems = _csv_fields(header, cells)
        yield Row(line, fields, text, problems)
    if header is None:
        raise MalformedFile(max(source.count, 1), "no header row (the file is empty)")


def _checked_header(cells: list[str], line: int) -> list[str]:
    names = [cell.strip().lower() for cell in cells]
    allowed = (*IMPORT_FIELDS, *sorted(EXPORT_ONLY_FIELDS))
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise MalformedFile(
            line,
            f"unknown column(s) {', '.join(map(repr, unknown))} (known: {', '.join(IMPORT_FIELDS)}; "
            f"{', '.join(sorted(EXPORT_ONLY_FIELDS))} as export writes them, ignored)",
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise MalformedFile(line, f"repeated column(s) {', '.join(map(repr, repeated))}")
    missing = [name for name in REQUIRED_FIELDS if name not in names]
    if missing:
        raise MalformedFile(line, f"missing required column(s) {', '.join(map(repr, missing))} in the header")
    return names


def _csv_fields(header: list[str], cells: list[str]) -> tuple[dict[str, object], tuple[FieldError, ...]]:
    fields: dict[str, object] = {}
    problems: tuple[FieldError, ...] = ()
    for name, value in zip(header, cells, strict=True):
        if name in EXPORT_ONLY_FIELDS:
            continue
        if name == "full_name":
            if value != "":
                fields[name] = value
        elif name == "is_active":
            flag = value.strip().lower()
            if flag in _TRUE:
                fields[name] = True
            elif flag in _FALSE:
                fields[name] = False
            elif flag != "":
                problems = (FieldError(name, _CSV_FLAG),)
        else:
            fields[name] = value
    return fields, problems


def read_jsonl(lines: Iterable[bytes]) -> Iterator[Row | UnreadableRow]:
    for line, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield UnreadableRow(line, _not_utf8(raw, error), raw.decode("utf-8", "backslashreplace").rstrip("\r\n"))
            continue
        if line == 1:
            text = text.removeprefix(_BOM)
        if not text.strip():
            continue
        text = text.rstrip("\r\n")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            yield UnreadableRow(line, f"is not valid JSON ({error.msg} at column {error.colno})", text)
            continue
        if not isinstance(value, dict):
            kind = _JSON_TYPES.get(type(value), "null" if value is None else "true or false")
            yield UnreadableRow(line, f'is {kind}, not a JSON object like {{"username": ..., "email": ...}}', text)
            continue
        fields = {name: field for name, field in value.items() if name not in EXPORT_ONLY_FIELDS}
        flag = fields.get("is_active", True)
        if flag is True or flag is False:
            yield Row(line, fields, text)
        else:
            del fields["is_active"]
            yield Row(line, fields, text, (FieldError("is_active", _JSON_FLAG),))


def user_to_json_line(user: User) -> str:
    """One line of ``export``'s output (newline included), in the API's own shape."""
    record = {
        "id": str(user.id),
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "is_active": user.is_active,
        "created_at": _timestamp(user.created_at),
        "updated_at": _timestamp(user.updated_at),
        "version": user.version,
    }
    return json.dumps(record, ensure_ascii=False) + "\n"


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
