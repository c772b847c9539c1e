"""Reference app 3, the stack ceiling: the least a FastAPI + SQLAlchemy Core (async, asyncpg dialect) app does
for the same routes and JSON shapes. One prebuilt Core statement per request, AUTOCOMMIT connections for the
reads, ``engine.begin()`` for the writes, keyset pages (``?after=<uuid>``), a pool of 20 without pre-ping; no
auth, no layers. It shows what the service's own layers cost over the bare stack. Not product code.

    DATABASE_URL=postgresql+asyncpg://... uvicorn benchmarks.apps.stack_ceiling:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

from fastapi import FastAPI, Request, Response
from sqlalchemy import Update, bindparam, insert, literal_column, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.sqlalchemy.tables import users
from benchmarks.apps.raw_ceiling import PATCHABLE, _body, _json, _problem, _user, _uuid, _valid
from domain.identity import new_user_id  # the same time-ordered ids as the service

DSN = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/users")

engine = create_async_engine(DSN, pool_size=20, max_overflow=0, pool_pre_ping=False)
reads = engine.execution_options(isolation_level="AUTOCOMMIT")

GET = select(users).where(users.c.id == bindparam("id"))
FIRST_PAGE = select(users).order_by(users.c.id).limit(bindparam("limit"))
NEXT_PAGE = select(users).where(users.c.id > bindparam("after")).order_by(users.c.id).limit(bindparam("limit"))
INSERT = insert(users).returning(*users.c)
_UPDATES: dict[tuple[str, ...], Update] = {}


def _update(fields: tuple[str, ...]) -> Update:
    """The UPDATE for this set of fields, built once."""
    statement = _UPDATES.get(fields)
    if statement is None:
        values: dict[str, Any] = {field: bindparam(f"new_{field}") for field in fields}
        values.update(version=users.c.version + literal_column("1"), updated_at=bindparam("now"))
        statement = update(users).where(users.c.id == bindparam("user_id")).values(values).returning(*users.c)
        _UPDATES[fields] = statement
    return statement


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan, openapi_url=None)


@app.get("/healthz")
async def healthz() -> Response:
    return _json({"status": "ok"})


@app.get("/users/{user_id}")
async def get_user(user_id: str) -> Response:
    uid = _uuid(user_id)
    if uid is None:
        return _problem(422, "invalid id")
    async with reads.connect() as connection:
        row = (await connection.execute(GET, {"id": uid})).mappings().first()
    return _problem(404, "user not found") if row is None else _json(_user(cast(Mapping[str, Any], row)))


@app.get("/users")
async def list_users(request: Request) -> Response:
    try:
        limit = int(request.query_params.get("limit", "50"))
    except ValueError:
        return _problem(422, "invalid limit")
    if not 1 <= limit <= 100:
        return _problem(422, "invalid limit")
    after_text = request.query_params.get("after")
    after = None if after_text is None else _uuid(after_text)
    if after_text is not None and after is None:
        return _problem(422, "invalid after")
    async with reads.connect() as connection:
        if after is None:
            result = await connection.execute(FIRST_PAGE, {"limit": limit + 1})
        else:
            result = await connection.execute(NEXT_PAGE, {"after": after, "limit": limit + 1})
        rows = result.mappings().all()
    more = len(rows) > limit
    items = [_user(cast(Mapping[str, Any], row)) for row in rows[:limit]]
    return _json({"items": items, "next_cursor": items[-1]["id"] if more else None})


@app.post("/users")
async def create_user(request: Request) -> Response:
    body = await _body(request)
    if body is None or not {"username", "email"} <= body.keys() or not body.keys() <= set(PATCHABLE):
        return _problem(422, "invalid body")
    body.setdefault("full_name", None)
    body.setdefault("is_active", True)
    if not all(_valid(field, value) for field, value in body.items()):
        return _problem(422, "invalid body")
    now = datetime.now(UTC)
    values = {
        "id": new_user_id(),
        "username": body["username"],
        "username_key": body["username"].lower(),
        "email": body["email"].lower(),
        "full_name": body["full_name"],
        "is_active": body["is_active"],
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    try:
        async with engine.begin() as connection:
            row = (await connection.execute(INSERT, values)).mappings().one()
    except sa_exc.IntegrityError:
        return _problem(409, "username or email taken")
    response = _json(_user(cast(Mapping[str, Any], row)), status_code=201)
    response.headers["Location"] = f"/users/{row['id']}"
    return response


@app.patch("/users/{user_id}")
async def patch_user(user_id: str, request: Request) -> Response:
    uid = _uuid(user_id)
    body = await _body(request)
    if uid is None or body is None or not body.keys() <= set(PATCHABLE):
        return _problem(422, "invalid request")
    if not all(_valid(field, value) for field, value in body.items()):
        return _problem(422, "invalid body")
    if "username" in body:
        body["username_key"] = body["username"].lower()
    if "email" in body:
        body["email"] = body["email"].lower()
    fields = tuple(sorted(body))
    parameters = {f"new_{field}": body[field] for field in fields}
    parameters.update(user_id=uid, now=datetime.now(UTC))
    try:
        async with engine.begin() as connection:
            row = (await connection.execute(_update(fields), parameters)).mappings().first()
    except sa_exc.IntegrityError:
        return _problem(409, "username or email taken")
    return _problem(404, "user not found") if row is None else _json(_user(cast(Mapping[str, Any], row)))
