"""The HTTP/1.1 connection: uvicorn's httptools protocol, with bounds on a request's head and every refusal
of the server written as a problem (docs/decisions/0007-bounded-request-heads.md).

- A request target over ``MAX_TARGET_BYTES`` is a 414, header fields over ``MAX_HEADER_BYTES`` in all a
  431, both counted while they are read: the parser never holds more than these limits (plus one read of
  the socket), and the app, token checks included, never sees the request.
- Bytes that cannot be parsed after a valid request are refused only once that request is answered (uvicorn
  alone closed the connection at once, dropping the answer of a request it still carried out).
- uvicorn's plain-text 400 becomes a problem+json 400.
- A body not complete ``body_read_timeout`` seconds after its head is a 408, and the connection is closed. The
  timer starts only when a read of the socket ends inside a body, so a request that comes whole costs none.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from entrypoints.http.problems import problem
from entrypoints.http.security_headers import security_headers

MAX_TARGET_BYTES: Final = 8 * 1024
MAX_HEADER_BYTES: Final = 16 * 1024
# A header line without end is counted per read of the socket, from the read after the one where its request
# began (the parser keeps such a line whole until it ends): refused after this much, whatever its size.
_MAX_UNFINISHED_HEAD_BYTES: Final = MAX_TARGET_BYTES + MAX_HEADER_BYTES
_LINE_OVERHEAD: Final = 4  # ": " and CRLF around each header field's name and value

_BODY_TIMEOUT_DETAIL: Final = (
    "The request body did not arrive within {seconds:g} s; send all of it, as many bytes as Content-Length says."
)
_DETAILS: Final = {
    400: "The request is not valid HTTP/1.1.",
    414: f"The request target (path and query) is longer than the service accepts ({MAX_TARGET_BYTES} bytes).",
    431: f"The request's header fields are larger than the service accepts ({MAX_HEADER_BYTES} bytes in all).",
}

log = logging.getLogger(__name__)


class _Refused(Exception):
    """Raised in a parser callback: the parser stops, and the request is refused with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _refusal(status: int, detail: str) -> bytes:
    """The whole response of a refusal: a problem, and the connection closed after it."""
    response = problem(status, detail)
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode("ascii")]
    for name, value in [*response.raw_headers, *security_headers(response.raw_headers), (b"connection", b"close")]:
        head.append(name + b": " + value + b"\r\n")
    return b"".join([*head, b"\r\n", response.body])


_REFUSALS: Final = {status: _refusal(status, detail) for status, detail in _DETAILS.items()}


def bounded_http_protocol(body_read_timeout: float) -> type[BoundedHttpProtocol]:
    """The protocol class for uvicorn's ``Config(http=...)``, with this deadline for request bodies."""
    refusal = _refusal(408, _BODY_TIMEOUT_DETAIL.format(seconds=body_read_timeout))
    return type(
        "BoundedHttpProtocol",
        (BoundedHttpProtocol,),
        {"body_read_timeout": body_read_timeout, "body_timeout_refusal": refusal},
    )


class BoundedHttpProtocol(HttpToolsProtocol):
    body_read_timeout: float = 30.0
    body_timeout_refusal: bytes = _refusal(408, _BODY_TIMEOUT_DETAIL.format(seconds=30))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False
        self._head_began = False  # during the current read
        self._unfinished_head_bytes = 0
        self._target_bytes = 0
        self._header_bytes = 0
        self._in_body = False
        self._unanswered = 0  # requests handed to the app whose response is not complete
        self._refused_with: int | None = None  # set by a callback that stopped the parser
        self._refusal: bytes | None = None  # once set, the connection reads nothing more
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._transport = transport
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return
        self._head_began = False
        super().data_received(data)
        if self._in_head and not self._head_began and self._refusal is None:
            # All of this read belongs to a head that began before it and has not ended yet.
            self._unfinished_head_bytes += len(data)
            if self._unfinished_head_bytes > _MAX_UNFINISHED_HEAD_BYTES:
                log.warning("refused a request whose header fields went on past %d bytes", _MAX_UNFINISHED_HEAD_BYTES)
                self._refuse(431)
        if self._in_body and self._body_timer is None and self._refusal is None:
            self._body_timer = asyncio.get_running_loop().call_later(self.body_read_timeout, self._body_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_body_timer()
        super().connection_lost(exc)

    # Parser callbacks (httptools' protocol interface).
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = self._head_began = True
        self._unfinished_head_bytes = self._target_bytes = self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._target_bytes += len(url)
        if self._target_bytes > MAX_TARGET_BYTES:
            self._refused_with = 414
            raise _Refused(414)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + _LINE_OVERHEAD
        if self._header_bytes > MAX_HEADER_BYTES:
            self._refused_with = 431
            raise _Refused(431)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()
        self._unanswered += 1
        self._in_body = True

    def on_message_complete(self) -> None:
        self._in_body = False
        self._stop_body_timer()
        super().on_message_complete()

    # uvicorn's hooks: its answer to bytes the parser refused, and the end of each response.
    def send_400_response(self, msg: str) -> None:
        self._refuse(self._refused_with or 400)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._unanswered -= 1
        if self._refusal is not None and self._unanswered <= 0:
            self._close_with(self._refusal)

    def _refuse(self, status: int) -> None:
        """Answer now, or after the requests before the refused bytes, if they came whole, are answered."""
        self._refusal = _REFUSALS[status]
        if self._unanswered <= 0 or self._in_body:
            self._close_with(self._refusal)

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_too_slow(self) -> None:
        """The body did not come in time: a 408 while its request is unanswered (the app still waits for the
        body), else, the answer sent already, only the connection closed. The app then sees a disconnect."""
        self._body_timer = None
        log.warning("closed a connection whose request body did not arrive within %g s", self.body_read_timeout)
        self._refusal = self.body_timeout_refusal
        if self._unanswered > 0:
            self._close_with(self._refusal)
        elif not self._transport.is_closing():
            self._transport.close()

    def _close_with(self, response: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(response)
            self._transport.close()
