"""The file formats of ``users-service import`` and ``export``: CSV and JSON Lines, both UTF-8.

Readers take the file's raw lines (a file opened in binary mode) and yield ``(line number, fields)``; a file
they cannot read raises ``MalformedFile`` naming the line. A row that is well-formed but breaks a rule of
the domain is not their business: the import use case rejects it.

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

from application.bulk_import import IMPORT_FIELDS, REQUIRED_FIELDS, Row
from domain.users import User

FileFormat = Literal["csv", "jsonl"]
FORMATS: Final[tuple[FileFormat, ...]] = ("csv", "jsonl")
EXTENSIONS: Final[dict[str, FileFormat]] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
EXPORT_ONLY_FIELDS: Final = frozenset({"id", "created_at", "updated_at", "version"})

_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no"})
_BOM: Final = "\ufeff"


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


def read_rows(lines: Iterable[bytes], file_format: FileFormat) -> Iterator[Row]:
    return read_csv(lines) if file_format == "csv" else read_jsonl(lines)


def _decoded(lines: Iterable[bytes], counter: list[int]) -> Iterator[str]:
    """Each line as text; ``counter[0]`` is the number of the last line handed out (for the CSV reader, whose
    own count cannot see a line that failed to decode)."""
    for number, raw in enumerate(lines, start=1):
        counter[0] = number
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedFile(
                number, f"is not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1})"
            ) from None
        yield text.removeprefix(_BOM) if number == 1 else text


def read_csv(lines: Iterable[bytes]) -> Iterator[Row]:
    counter = [0]
    reader = csv.reader(_decoded(lines, counter), strict=True)
    header: list[str] | None = None
    end_of_last_row = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise MalformedFile(counter[0], f"is not valid CSV ({error})") from None
        line, end_of_last_row = end_of_last_row + 1, reader.line_num
        if not cells:
            continue  # a blank line
        if header is None:
            header = _checked_header(cells, line)
            continue
        if len(cells) != len(header):
            raise MalformedFile(line, f"has {len(cells)} fields where the header has {len(header)}")
        yield line, _csv_fields(header, cells)
    if header is None:
        raise MalformedFile(max(counter[0], 1), "no header row (the file is empty)")


def _checked_header(cells: list[str], line: int) -> list[str]:
    names = [cell.strip().lower() for cell in cells]
    allowed = (*IMPORT_FIELDS, *sorted(EXPORT_ONLY_FIELDS))
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise MalformedFile(
            line, f"unknown column(s) {', '.join(map(repr, unknown))} (known: {', '.join(IMPORT_FIELDS)})"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise MalformedFile(line, f"repeated column(s) {', '.join(map(repr, repeated))}")
    missing = [name for name in REQUIRED_FIELDS if name not in names]
    if missing:
        raise MalformedFile(line, f"missing required column(s) {', '.join(map(repr, missing))} in the header")
    return names


def _csv_fields(header: list[str], cells: list[str]) -> dict[str, object]:
    fields: dict[str, object] = {}
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
                fields[name] = value  # the domain refuses it, naming the field
        else:
            fields[name] = value
    return fields


def read_jsonl(lines: Iterable[bytes]) -> Iterator[Row]:
    for line, text in enumerate(_decoded(lines, [0]), start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text.rstrip("\r\n"))
        except json.JSONDecodeError as error:
            raise MalformedFile(line, f"is not valid JSON ({error.msg} at column {error.colno})") from None
        if not isinstance(value, dict):
            raise MalformedFile(line, f"is JSON, but not an object (found {type(value).__name__})")
        yield line, {name: field for name, field in value.items() if name not in EXPORT_ONLY_FIELDS}


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
