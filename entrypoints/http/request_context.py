"""Request ids, the access log and the HTTP metrics, in one pure-ASGI layer around the whole app.

It wraps even Starlette's error middleware, so every response that leaves the app passes through it: the
500 problem, the 413 of the body limit, the 404 of an unknown path. For each request it

- takes the client's ``X-Request-ID`` if it is 1-128 characters of ``A-Z a-z 0-9 . _ : -``, otherwise makes
  one (32 hex digits, unique: see ``_new_request_id``): a hostile header is never echoed nor logged;
- returns it in the ``X-Request-ID`` response header and puts it on every log record emitted meanwhile;
- writes one access-log line (logger ``users_service.access``): method, route template, status, duration.
  Neither the raw path, the query string (``?email=``) nor a body is ever logged;
- counts the request and its duration in the metrics, labelled by route template;
- adds the security headers (security_headers.py; a route's own content policy stays) and
  ``Cache-Control: no-store`` unless a route chose;
- answers a request cut off by shutdown with a 503 problem of type ``...:shutting-down`` (and Retry-After)
  instead of uvicorn's bare text 500, and logs it as one warning line: when the graceful-shutdown period
  runs out, uvicorn cancels what still runs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from collections.abc import Mapping

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.problems import problem
from entrypoints.http.security_headers import security_headers
from entrypoints.logs import current_request_id
from entrypoints.metrics import Metrics

HEADER = "X-Request-ID"
UNMATCHED = "<unmatched>"

_HEADER_KEY = HEADER.lower().encode("ascii")
_NO_STORE = (b"cache-control", b"no-store")
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_OTHER_METHOD = "OTHER"  # any other token a client sends: a bounded label, nothing of theirs echoed

access_log = logging.getLogger("users_service.access")
cut_off = logging.getLogger(__name__)

# Such a request never committed, so a client or load balancer may retry it on another replica.
_SHUTTING_DOWN = problem(
    503, "The service is shutting down; retry the request.", kind="shutting-down", headers={"Retry-After": "1"}
)

# A request id must be unique, not secret: a random prefix per process and a counter. (uuid4 asked the kernel
# for 16 random bytes on every request.)
_ID_PREFIX = secrets.token_hex(8)
_ID_NUMBERS = itertools.count()


def _new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_NUMBERS):016x}"


class RequestContext:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self._routes = routes
        self._templates: Mapping[object, str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope["headers"]) or _new_request_id()
        id_header = (_HEADER_KEY, request_id.encode("ascii"))
        status = 0
        completed = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, completed
            if message["type"] == "http.response.start":
                status = message["status"]
                own = message.get("headers", ())
                headers = [*own, id_header, *security_headers(own)]
                if not any(name.lower() == b"cache-control" for name, _ in own):
                    # Users' data is personal: no shared cache keeps it (ETags still let clients revalidate).
                    headers.append(_NO_STORE)
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                completed = True
            await send(message)

        token = current_request_id.set(request_id)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Starlette answered it with the 500 problem and our handler logged it with its traceback and
            # request id; re-raising would only make the server log it a second time, without the id.
            if not completed:
                status = status or 500
                raise
        except asyncio.CancelledError:  # the server is stopping and its grace period is over
            # Expected at shutdown, not a fault: one warning, and the task ends here instead of handing the
            # cancellation to uvicorn, which would log it as an error with a traceback.
            method = scope["method"] if scope["method"] in _METHODS else _OTHER_METHOD
            cut_off.warning("%s %s cut off by shutdown after the grace period", method, self._route_template(scope))
            if status == 0:
                await _SHUTTING_DOWN(scope, receive, send_with_id)
        except BaseException:
            status = status or 499
            raise
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else _OTHER_METHOD
            route = self._route_template(scope)
            self.metrics.observe_request(method, route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                duration_ms = round(seconds * 1000, 2)
                access_log.info(
                    "%s %s %d %.2fms",
                    method,
                    route,
                    status,
                    duration_ms,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": duration_ms,
                        "request_id": request_id,
                    },
                )
            current_request_id.reset(token)

    def _route_template(self, scope: Scope) -> str:
        """The path format of the route that answered (``/users/{user_id}``), else ``<unmatched>``."""
        route = scope.get("route")
        if route is not None:
            return getattr(route, "path_format", UNMATCHED)
        # Plain Starlette routes (/openapi.json) leave only their endpoint in the scope, a mount (the docs' files)
        # the app it hands the request to.
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        if self._templates is None:
            self._templates = {
                getattr(route, "endpoint", getattr(route, "app", None)): getattr(route, "path_format", UNMATCHED)
                for route in self._routes
            }
        return self._templates.get(endpoint, UNMATCHED)


def _incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == _HEADER_KEY:
            return value.decode("ascii") if _VALID_REQUEST_ID.fullmatch(value) else None
    return None
