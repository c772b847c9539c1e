"""CPU time per request inside one process, without a server or a load generator: ``python -m
benchmarks.in_process``.

Each app (the service, the stack ceiling) runs in a child process of its own and is called as an ASGI app on
uvloop, one request after another, against a fresh PostgreSQL database with ``--users`` seeded users. The
figure per scenario is the process's CPU time per request (``time.process_time``), best of three runs of
``--requests`` requests after a warm-up. It leaves out the HTTP server and the socket, and PostgreSQL's CPU is
another process's, so it moves only when the app's own work does: the quick way to compare two versions of a
request path. ``make bench`` is still the judge of throughput and latency.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from benchmarks.seed import (
    BENCH_AUTHORIZATION,
    BENCH_SECRET,
    ROOT,
    ServerDatabases,
    migrate,
    seed_users,
    server_url_from_environment,
    sqlalchemy_url,
)

APPS = ("service", "stack")
SCENARIOS = ("get", "post", "patch", "first_page")
Call = Callable[[], Awaitable[dict[str, Any]]]


def _load_app(name: str, database_url: str) -> Any:
    os.environ.update(
        DATABASE_URL=sqlalchemy_url(database_url),
        AUTH_JWT_SECRET=BENCH_SECRET,
        RATE_LIMIT_WRITES_PER_SECOND="0",
        LOG_LEVEL="warning",
    )
    if name == "service":
        from entrypoints.http.app import create_app

        return create_app()
    from benchmarks.apps.stack_ceiling import app

    return app


async def _call(app: Any, method: str, target: str, body: bytes = b"") -> dict[str, Any]:
    path, _, query = target.partition("?")
    headers = [(b"host", b"bench"), (b"authorization", BENCH_AUTHORIZATION.encode())]
    if body:
        kind = b"application/json" if method == "POST" else b"application/merge-patch+json"
        headers += [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never goes away
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        else:
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer


def _scenarios(app: Any, ids: Sequence[str]) -> dict[str, Call]:
    tag = uuid.uuid4().hex[:8]
    counter = itertools.count()

    def get() -> Awaitable[dict[str, Any]]:
        return _call(app, "GET", f"/users/{ids[next(counter) % len(ids)]}")

    def post() -> Awaitable[dict[str, Any]]:
        name = f"inproc{tag}{next(counter)}"
        return _call(app, "POST", "/users", json.dumps({"username": name, "email": f"{name}@example.org"}).encode())

    def patch() -> Awaitable[dict[str, Any]]:
        number = next(counter)
        body = json.dumps({"full_name": f"name {number}"}).encode()
        return _call(app, "PATCH", f"/users/{ids[number % len(ids)]}", body)

    def first_page() -> Awaitable[dict[str, Any]]:
        return _call(app, "GET", "/users?limit=50")

    return {"get": get, "post": post, "patch": patch, "first_page": first_page}


async def _child(name: str, database_url: str, requests: int, scenarios: Sequence[str]) -> None:
    app = _load_app(name, database_url)
    async with app.router.lifespan_context(app):
        first = await _call(app, "GET", "/users?limit=100")
        ids = [user["id"] for user in json.loads(first["body"])["items"]]
        gc.collect()
        gc.freeze()
        calls = _scenarios(app, ids)
        for scenario in scenarios:
            call = calls[scenario]
            for _ in range(200):
                answer = await call()
                if answer["status"] not in (200, 201):
                    raise SystemExit(f"{name} {scenario}: {answer['status']} {answer['body'][:200]!r}")
            best = float("inf")
            for _ in range(3):
                started = time.process_time()
                for _ in range(requests):
                    await call()
                best = min(best, (time.process_time() - started) / requests)
            sys.stdout.write(f"{name:8} {scenario:11} {best * 1e6:8.1f} us CPU per request\n")
            sys.stdout.flush()


async def _parent(options: argparse.Namespace) -> None:
    databases = ServerDatabases(server_url_from_environment())
    url = await databases.create()
    try:
        await migrate(url)
        await seed_users(url, options.users)
        for name in options.apps.split(","):
            command = [sys.executable, "-m", "benchmarks.in_process", "--child", name, "--database-url", url]
            command += ["--requests", str(options.requests), "--scenarios", options.scenarios]
            await asyncio.to_thread(subprocess.run, command, cwd=ROOT, check=True)
    finally:
        await databases.drop(url)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.in_process", description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", default=",".join(APPS), help="comma-separated, from: " + ", ".join(APPS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="from: " + ", ".join(SCENARIOS))
    parser.add_argument("--users", type=int, default=100_000, help="users to seed (100000)")
    parser.add_argument("--requests", type=int, default=2_000, help="requests per timed run (2000)")
    parser.add_argument("--child", choices=APPS, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        import uvloop

        uvloop.run(_child(options.child, options.database_url, options.requests, options.scenarios.split(",")))
    else:
        asyncio.run(_parent(options))


if __name__ == "__main__":
    main()
