"""The schema, as SQLAlchemy Core metadata. Alembic's migrations create it; tests check the two agree.

Uniqueness lives in the database, so a race that no pre-check could see still cannot store two users with
one name. Case-insensitive uniqueness of usernames uses a stored ``username_key`` (the lower-cased name) with
a plain unique constraint rather than an index on ``lower(username)``: it means the same on PostgreSQL and
SQLite, and Alembic can compare it against the migrations exactly. Emails are stored lower-cased already.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, UniqueConstraint, Uuid

from domain.users import FULL_NAME_MAX_LENGTH, USERNAME_MAX_LENGTH

metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)

# RFC 5321 caps a forward path at 256 octets; email-validator refuses anything longer than 254.
EMAIL_MAX_LENGTH = 320

users = Table(
    "users",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("username", String(USERNAME_MAX_LENGTH), nullable=False),
    Column("username_key", String(USERNAME_MAX_LENGTH), nullable=False),
    Column("email", String(EMAIL_MAX_LENGTH), nullable=False),
    Column("full_name", String(FULL_NAME_MAX_LENGTH), nullable=True),
    Column("is_active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    UniqueConstraint("username_key"),
    UniqueConstraint("email"),
)

USERNAME_UNIQUE = "uq_users_username_key"
EMAIL_UNIQUE = "uq_users_email"
