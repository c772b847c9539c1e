"""Opaque page cursors. A cursor is the id of the last user of a page, base64url-encoded: short, URL-safe,
and not something a client should build or parse."""

from __future__ import annotations

import base64
import re
from uuid import UUID

# 16 bytes are 22 base64 digits whose last one carries 2 bits: only one spelling per id is accepted.
_CURSOR = re.compile(r"[A-Za-z0-9_-]{21}[AQgw]")


class InvalidCursor(ValueError):
    pass


def encode_cursor(after: UUID) -> str:
    return base64.urlsafe_b64encode(after.bytes).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> UUID:
    if not _CURSOR.fullmatch(cursor):
        raise InvalidCursor(cursor)
    return UUID(bytes=base64.urlsafe_b64decode(cursor + "=="))
