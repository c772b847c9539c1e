"""Headers every response carries, so that a browser that ends up here treats the answer as inert data."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

_ALWAYS: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
# The API's answers are JSON: nothing in them may load or run anything. The interactive docs pages load their
# script and styles from this service, so they send a content policy of their own (docs.py), which stays.
_POLICY: Final = b"content-security-policy"
_API: Final = [*_ALWAYS, (_POLICY, b"default-src 'none'; frame-ancestors 'none'")]


def security_headers(response_headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers to add to a response that has ``response_headers``."""
    return _ALWAYS if any(name.lower() == _POLICY for name, _ in response_headers) else _API
