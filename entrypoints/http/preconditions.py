"""Entity tags and the conditional headers (RFC 9110 section 13) that use them.

A user's ETag is its version, quoted: ``"3"``. It changes with every change of the user.
"""

from __future__ import annotations

import re

from fastapi.exceptions import RequestValidationError

_ISSUED_VERSION = re.compile(r"[1-9][0-9]{0,17}")


def etag(version: int) -> str:
    return f'"{version}"'


# An entity tag (RFC 9110 section 8.8.3): optionally weak, then any printable ASCII but '"' between quotes.
_ENTITY_TAG = re.compile(r'(W/)?"[\x21\x23-\x7e]*"')


# What a malformed header is told, by whether it may hold weak tags (If-None-Match) or not (If-Match).
_FORM = {
    True: 'must be * or entity tags in quotes, as the ETag header gives them: "3"',
    False: 'must be * or strong entity tags in quotes, as the ETag header gives them: "3"'
    " (If-Match compares strongly: no W/)",
}


def _tags(header: str, name: str, *, weak_allowed: bool) -> list[str]:
    """The tags of a conditional header; a 422 naming the header when it is not a list of entity tags."""
    tags = [tag.strip() for tag in header.split(",")]
    for tag in tags:
        match = _ENTITY_TAG.fullmatch(tag)
        if match is None or (match.group(1) and not weak_allowed):
            error = {"type": "value_error", "loc": ("header", name), "msg": _FORM[weak_allowed], "input": header}
            raise RequestValidationError([error])
    return tags


def versions_in_if_match(header: str | None) -> frozenset[int] | None:
    """The versions an ``If-Match`` accepts; ``None`` when there is no condition beyond existence.

    A header that is not ``*`` or a list of strong entity tags is a 422. A well-formed tag this service never
    issued (``"03"``, ``"abc"``) matches no version, so the request fails with 412.
    """
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for tag in _tags(header, "If-Match", weak_allowed=False):
        inner = tag[1:-1]
        # Only the exact spelling we issue: strong tags compare character by character ("03" is not "3"),
        # and a bounded length keeps int() from choking on a hostile header.
        if _ISSUED_VERSION.fullmatch(inner):
            versions.add(int(inner))
    return frozenset(versions)


def if_none_match_hits(header: str | None, version: int) -> bool:
    """Does ``If-None-Match`` name the current version (weak comparison, as RFC 9110 asks)? A header that is not
    ``*`` or a list of entity tags is a 422."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return etag(version) in (tag.removeprefix("W/") for tag in _tags(header, "If-None-Match", weak_allowed=True))
