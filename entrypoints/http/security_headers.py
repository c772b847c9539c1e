"""Headers every response carries, so that a browser that ends up here treats the answer as inert data."""

from __future__ import annotations

from typing import Final

_ALWAYS: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
# The API's answers are JSON: nothing in them may load or run anything. The interactive docs are a page that
# loads its script and styles, so they get no content policy from here.
_API: Final = [*_ALWAYS, (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]
_DOCS_PATHS: Final = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


def security_headers(path: str) -> list[tuple[bytes, bytes]]:
    return _ALWAYS if path in _DOCS_PATHS else _API
