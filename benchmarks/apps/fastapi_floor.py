"""Reference point, not one of the compared apps: what FastAPI itself costs per request.

One route shaped like the service's GET /users/{user_id} (a UUID path parameter, the same response model),
answering a constant user: no database, no middleware, no dependencies. Its CPU per request under load is
the part of the service's cost that comes with the framework (see docs/design.md, Performance).

    uvicorn --app-dir . benchmarks.apps.fastapi_floor:app --port 8111 --log-level warning
    wrk -t1 -c32 -d10s http://127.0.0.1:8111/users/01a21235-e9fe-706e-bbcc-44ab6908aa53
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from fastapi import FastAPI

from entrypoints.http.schemas import UserOut

app = FastAPI()
_NOW = datetime.now(UTC)


@app.get("/users/{user_id}")
async def get_user(user_id: UUID) -> UserOut:
    return UserOut(
        id=user_id,
        username="alice",
        email="alice@example.com",
        full_name="Alice Liddell",
        is_active=True,
        created_at=_NOW,
        updated_at=_NOW,
        version=1,
    )
