"""Headless Chromium, driven over the DevTools protocol on a pipe: no client library, no open debugging port.

A test opens a page, waits until it shows what the test expects, and reads what the page made of it: its text,
every request it and its workers sent (whatever their address), and every error it reported (console errors,
uncaught exceptions, content-policy violations). Without Chromium the browser tests are skipped with the
reason, unless ``REQUIRE_BROWSER=1`` (CI), which turns that skip into a failure.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.server_process import free_port

_EXECUTABLES = ("chromium", "chromium-browser")
# Chromium reads the protocol's commands from descriptor 3 and writes its answers and events to descriptor 4.
_COMMANDS_FD, _EVENTS_FD = 3, 4


def chromium() -> str:
    """The Chromium executable, or the test is skipped (failed under ``REQUIRE_BROWSER=1``)."""
    for name in _EXECUTABLES:
        found = shutil.which(name)
        if found is not None:
            return found
    reason = "no Chromium here (make browser installs Debian's package)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


class BrowserError(Exception):
    """The browser answered a command with an error, or not in time."""


@dataclass
class Request:
    url: str
    blocked: str | None = None  # why the browser refused to send it ("csp": the page's own policy), if it did


@dataclass
class Page:
    """One tab, with what it has done since it was opened."""

    browser: Browser
    session: str
    requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _by_id: dict[str, Request] = field(default_factory=dict)

    def sent(self, request_id: str, url: str) -> None:
        request = Request(url)
        self.requests.append(request)
        self._by_id[request_id] = request

    def refused(self, request_id: str, reason: str) -> None:
        if request_id in self._by_id:
            self._by_id[request_id].blocked = reason

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        answer = self.browser.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self.session,
        )
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression!r} threw: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def type_text(self, text: str) -> None:
        """``text`` typed into the element that has the focus."""
        self.browser.call("Input.insertText", {"text": text}, session=self.session)

    def wait_for(self, expression: str, timeout: float = 30) -> None:
        """Until ``expression`` is true in the page; then until the page has sent no request for a moment."""
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise BrowserError(f"{expression!r} still false after {timeout} s; page errors: {self.errors}")
            self.browser.pump(0.1)
        seen = -1
        while seen != len(self.requests):
            seen = len(self.requests)
            self.browser.pump(0.5)


class Browser:
    def __init__(self, process: subprocess.Popen[bytes], commands: int, events: int, log: Path) -> None:
        self._process = process
        self._log = log
        self._commands = commands
        self._events = events
        self._buffer = b""
        self._next_id = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self._pages: dict[str, Page] = {}  # by session, the pages' workers' sessions included

    def open(self, url: str) -> Page:
        """A new tab that records requests and errors from the start, then loads ``url``."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self._pages[session] = page
        for domain in ("Network", "Log", "Runtime", "Page"):
            self.call(f"{domain}.enable", session=session)
        # Workers start paused until their own recording is on.
        self.call(
            "Target.setAutoAttach",
            {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
            session=session,
        )
        self.call("Page.navigate", {"url": url}, session=session)
        return page

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> Any:
        number = self._send(method, params, session)
        deadline = time.monotonic() + 30
        while number not in self._answers:
            if time.monotonic() > deadline:
                raise BrowserError(f"no answer to {method} within 30 s")
            self.pump(0.1)
        answer = self._answers.pop(number)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        return answer["result"]

    def pump(self, seconds: float) -> None:
        """Read and record whatever the browser sends for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self._events], [], [], left)
            if not readable:
                return
            chunk = os.read(self._events, 1 << 16)
            if not chunk:
                output = self._log.read_text(errors="replace")[-2000:]
                raise BrowserError(f"Chromium closed the pipe (exit status {self._process.poll()}):\n{output}")
            self._buffer += chunk
            *messages, self._buffer = self._buffer.split(b"\0")
            for message in messages:
                self._receive(json.loads(message))

    def _send(self, method: str, params: dict[str, Any] | None, session: str | None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, message: dict[str, Any]) -> None:
        if "id" in message:
            self._answers[message["id"]] = message
            return
        page = self._pages.get(message.get("sessionId", ""))
        if page is None:
            return
        method, params = message["method"], message["params"]
        if method == "Network.requestWillBeSent":
            page.sent(params["requestId"], params["request"]["url"])
        elif method == "Network.loadingFailed" and params.get("blockedReason"):
            page.refused(params["requestId"], params["blockedReason"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            page.errors.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}".strip())
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            page.errors.append(f"exception: {details.get('exception', {}).get('description', details['text'])}")
        elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
            page.errors.append(
                "console: " + " ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"])
            )
        elif method == "Target.attachedToTarget":  # a worker of the page: record it too, then let it run
            worker = params["sessionId"]
            self._pages[worker] = page
            for command in ("Network.enable", "Runtime.enable", "Runtime.runIfWaitingForDebugger"):
                self._send(command, None, worker)


def _above_protocol_fds(fd: int) -> int:
    """``fd`` moved above 4, so that putting the pipe ends at 3 and 4 in the child overwrites none of them."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _EVENTS_FD + 1)
    os.close(fd)
    return moved


@contextmanager
def running_browser() -> Iterator[Browser]:
    """Headless Chromium with a throw-away profile and its background traffic (updates, sync) turned off."""
    executable = chromium()
    commands_read, commands_write = (_above_protocol_fds(end) for end in os.pipe())
    events_read, events_write = (_above_protocol_fds(end) for end in os.pipe())

    def wire_pipes() -> None:  # in the child, before exec: put the pipe ends where Chromium looks for them
        os.dup2(commands_read, _COMMANDS_FD)
        os.dup2(events_write, _EVENTS_FD)

    with tempfile.TemporaryDirectory() as scratch:
        profile, log = Path(scratch) / "profile", Path(scratch) / "chromium.log"
        command = [
            executable,
            "--headless",
            "--remote-debugging-pipe",
            # Its sandbox needs user namespaces, which a container or root session may lack; the pages are ours.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            # Whatever a page tries, nothing leaves the machine: no host name resolves but the loopback address,
            # and every other address goes through a proxy where nothing listens (loopback bypasses proxies).
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--proxy-server=http://127.0.0.1:{free_port()}",
            "about:blank",
        ]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # Descriptors are not inherited unless made so (PEP 446): the child keeps only the two put in place.
                close_fds=False,
                preexec_fn=wire_pipes,
            )
        os.close(commands_read)
        os.close(events_write)
        try:
            yield Browser(process, commands_write, events_read, log)
        finally:
            os.close(commands_write)  # Chromium exits when its command pipe closes
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            os.close(events_read)
