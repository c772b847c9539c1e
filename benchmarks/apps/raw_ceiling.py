"""Reference app 2, the ceiling: Starlette, a bare asyncpg pool and orjson.

As little work per request as the same routes and JSON shapes allow: one prepared statement per request (a
PATCH is one ``UPDATE ... RETURNING``), rows turned into JSON by hand, keyset pages (``?after=<uuid>``), and a
pool as large as the service's at most (10 + 10). Not product code.

    DATABASE_URL=postgresql://... uvicorn benchmarks.apps.raw_ceiling:app
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.identity import new_user_id  # the same time-ordered ids as the service

DSN = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/users")
COLUMNS = "id, username, email, full_name, is_active, created_at, updated_at, version"
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,31}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PATCHABLE = ("username", "email", "full_name", "is_active")

GET = f"SELECT {COLUMNS} FROM users WHERE id = $1"  # noqa: S608 - constant column list
FIRST_PAGE = f"SELECT {COLUMNS} FROM users ORDER BY id LIMIT $1"  # noqa: S608
NEXT_PAGE = f"SELECT {COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2"  # noqa: S608
INSERT = (
    "INSERT INTO users (id, username, username_key, email, full_name, is_active, created_at, updated_at, version)"  # noqa: S608
    f" VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1) RETURNING {COLUMNS}"
)


class _Pool:
    pool: Any = None


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    _Pool.pool = await asyncpg.create_pool(DSN, min_size=10, max_size=20)
    try:
        yield
    finally:
        await _Pool.pool.close()


def _iso(moment: datetime) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _user(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "email": row["email"],
        "full_name": row["full_name"],
        "is_active": row["is_active"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "version": row["version"],
    }


def _json(value: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(value), status_code=status_code, media_type="application/json")


def _problem(status_code: int, title: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status_code, "detail": title}
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/problem+json")


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


async def healthz(_: Request) -> Response:
    return _json({"status": "ok"})


async def get_user(request: Request) -> Response:
    user_id = _uuid(request.path_params["user_id"])
    if user_id is None:
        return _problem(422, "invalid id")
    row = await _Pool.pool.fetchrow(GET, user_id)
    return _problem(404, "user not found") if row is None else _json(_user(row))


async def list_users(request: Request) -> Response:
    try:
        limit = int(request.query_params.get("limit", "50"))
    except ValueError:
        return _problem(422, "invalid limit")
    if not 1 <= limit <= 100:
        return _problem(422, "invalid limit")
    after_text = request.query_params.get("after")
    if after_text is None:
        rows = await _Pool.pool.fetch(FIRST_PAGE, limit + 1)
    else:
        after = _uuid(after_text)
        if after is None:
            return _problem(422, "invalid after")
        rows = await _Pool.pool.fetch(NEXT_PAGE, after, limit + 1)
    more = len(rows) > limit
    items = [_user(row) for row in rows[:limit]]
    return _json({"items": items, "next_cursor": items[-1]["id"] if more else None})


def _valid(field: str, value: Any) -> bool:
    if field == "username":
        return isinstance(value, str) and USERNAME.fullmatch(value) is not None
    if field == "email":
        return isinstance(value, str) and len(value) <= 254 and EMAIL.fullmatch(value) is not None
    if field == "full_name":
        return value is None or (isinstance(value, str) and len(value) <= 200)
    return isinstance(value, bool)


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        body = orjson.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def create_user(request: Request) -> Response:
    body = await _body(request)
    if body is None or not {"username", "email"} <= body.keys() or not body.keys() <= set(PATCHABLE):
        return _problem(422, "invalid body")
    body.setdefault("full_name", None)
    body.setdefault("is_active", True)
    if not all(_valid(field, value) for field, value in body.items()):
        return _problem(422, "invalid body")
    username, email = body["username"], body["email"].lower()
    try:
        row = await _Pool.pool.fetchrow(
            INSERT,
            new_user_id(),
            username,
            username.lower(),
            email,
            body["full_name"],
            body["is_active"],
            datetime.now(UTC),
        )
    except asyncpg.UniqueViolationError:
        return _problem(409, "username or email taken")
    response = _json(_user(row), status_code=201)
    response.headers["Location"] = f"/users/{row['id']}"
    return response


async def patch_user(request: Request) -> Response:
    user_id = _uuid(request.path_params["user_id"])
    body = await _body(request)
    if user_id is None or body is None or not body.keys() <= set(PATCHABLE):
        return _problem(422, "invalid request")
    if not all(_valid(field, value) for field, value in body.items()):
        return _problem(422, "invalid body")
    if "username" in body:
        body["username_key"] = body["username"].lower()
    if "email" in body:
        body["email"] = body["email"].lower()
    fields = sorted(body)  # column names from PATCHABLE only; values are parameters
    assignments = ", ".join(f"{field} = ${number}" for number, field in enumerate(fields, start=3))
    statement = (
        f"UPDATE users SET {assignments}{', ' if assignments else ''}version = version + 1, updated_at = $2"  # noqa: S608
        f" WHERE id = $1 RETURNING {COLUMNS}"
    )
    try:
        row = await _Pool.pool.fetchrow(statement, user_id, datetime.now(UTC), *(body[field] for field in fields))
    except asyncpg.UniqueViolationError:
        return _problem(409, "username or email taken")
    return _problem(404, "user not found") if row is None else _json(_user(row))


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/users", list_users, methods=["GET"]),
        Route("/users", create_user, methods=["POST"]),
        Route("/users/{user_id}", get_user, methods=["GET"]),
        Route("/users/{user_id}", patch_user, methods=["PATCH"]),
    ],
    lifespan=lifespan,
)
