"""Entity tags and the conditional headers (RFC 9110 section 13) that use them.

A user's ETag is its version, quoted: ``"3"``. It changes with every change of the user.
"""

from __future__ import annotations

import re

_ISSUED_VERSION = re.compile(r"[1-9][0-9]{0,17}")


def etag(version: int) -> str:
    return f'"{version}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def versions_in_if_match(header: str | None) -> frozenset[int] | None:
    """The versions an ``If-Match`` accepts; ``None`` when there is no condition beyond existence.

    If-Match compares strongly: weak tags (``W/"3"``) and anything that is not one of our tags match no
    version, so such a request fails with 412 instead of writing unconditionally.
    """
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for tag in _tags(header):
        inner = tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else ""
        # Only the exact spelling we issue: strong tags compare character by character ("03" is not "3"),
        # and a bounded length keeps int() from choking on a hostile header.
        if _ISSUED_VERSION.fullmatch(inner):
            versions.add(int(inner))
    return frozenset(versions)


def if_none_match_hits(header: str | None, version: int) -> bool:
    """Does ``If-None-Match`` name the current version (weak comparison, as RFC 9110 asks)?"""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return etag(version) in (tag.removeprefix("W/") for tag in _tags(header))
