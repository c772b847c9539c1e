"""Reference app 1: FastAPI with async SQLAlchemy ORM, written the way the tutorials teach it.

The textbook pattern on purpose, not tuned: a session per request through ``Depends``, ``expire_on_commit=False``,
ORM objects returned through ``response_model``, the engine's default pool (5 + 10 overflow), OFFSET
pagination. Same routes and JSON shapes as the service, on the table its migrations create. Not product code.

    DATABASE_URL=postgresql+asyncpg://... uvicorn benchmarks.apps.tutorial:app
"""

# No `from __future__ import annotations`: FastAPI reads the annotations of the routes at import time.
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import DateTime, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain.identity import new_user_id  # the same time-ordered ids as the service, so the table stays comparable

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/users")

engine = create_async_engine(DATABASE_URL)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    username: Mapped[str]
    username_key: Mapped[str]
    email: Mapped[str]
    full_name: Mapped[str | None]
    is_active: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int]


USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$"


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN)
    email: EmailStr
    full_name: str | None = Field(default=None, max_length=200)
    is_active: bool = True


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str | None = Field(default=None, pattern=USERNAME_PATTERN)
    email: EmailStr | None = None
    full_name: str | None = Field(default=None, max_length=200)
    is_active: bool | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    email: str
    full_name: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    version: int


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

app = FastAPI(title="Tutorial-style users app")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, session: SessionDep) -> User:
    now = datetime.now(UTC)
    user = User(
        id=new_user_id(),
        username=body.username,
        username_key=body.username.lower(),
        email=body.email.lower(),
        full_name=body.full_name,
        is_active=body.is_active,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(user)
    try:
        await session.commit()
    except IntegrityError:
        raise HTTPException(status_code=409, detail="username or email taken") from None
    return user


@app.get("/users/{user_id}", response_model=UserOut)
async def get_user(user_id: uuid.UUID, session: SessionDep) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="user not found")
    return user


@app.get("/users", response_model=UserPage)
async def list_users(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, object]:
    result = await session.execute(select(User).order_by(User.id).offset(offset).limit(limit))
    users = result.scalars().all()
    return {"items": users, "next_cursor": str(offset + limit) if len(users) == limit else None}


@app.patch("/users/{user_id}", response_model=UserOut)
async def update_user(user_id: uuid.UUID, body: UserUpdate, session: SessionDep) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="user not found")
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(user, field, value)
    if body.username is not None:
        user.username_key = body.username.lower()
    if body.email is not None:
        user.email = body.email.lower()
    user.version += 1
    user.updated_at = datetime.now(UTC)
    try:
        await session.commit()
    except IntegrityError:
        raise HTTPException(status_code=409, detail="username or email taken") from None
    return user
