"""The rejects file of ``users-service import --rejects FILE``: every rejected row, one JSON object per line.

``{"line": 7, "reason": "email: is not a valid email address: ...", "text": "kim,not-an-address,yes"}``:
the row's first line number in the input, why it was rejected (every broken rule, ``; ``-separated), and the
row's text as read, without its line end (bytes that are not UTF-8 shown as ``\\xff``). In line order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from application.bulk_import import RejectedRow


def start_rejects_file(path: Path, source: Path) -> None:
    """Create (or empty) the rejects file before the import starts, so that a path that cannot be written fails
    before anything is imported. ``ValueError`` if it is the file being imported."""
    if path.exists() and path.samefile(source):
        raise ValueError(f"{path} is the file being imported")
    try:
        path.write_bytes(b"")
    except OSError as error:
        raise OSError(f"cannot write {path}: {error.strerror}") from None


def reject_to_json_line(rejected: RejectedRow) -> str:
    """One line of the rejects file, newline included."""
    record = {"line": rejected.line, "reason": rejected.reason, "text": rejected.text}
    return json.dumps(record, ensure_ascii=False) + "\n"


def write_rejects(path: Path, rejected: Iterable[RejectedRow]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as sink:
        sink.writelines(reject_to_json_line(row) for row in rejected)
