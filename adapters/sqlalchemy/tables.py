"""The schema, as SQLAlchemy Core metadata. Alembic's migrations create it; tests check the two agree.

Uniqueness lives in the database, so a race that no pre-check could see still cannot store two users with
one name. Case-insensitive uniqueness of usernames uses a stored ``username_key`` (the lower-cased name) with
a plain unique constraint rather than an index on ``lower(username)``: it means the same on PostgreSQL and
SQLite, and Alembic can compare it against the migrations exactly. Emails are stored lower-cased already.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)

from application.idempotency import KEY_MAX_LENGTH
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

# Room for a caller's subject (an OAuth "sub" is rarely longer than a UUID or an e-mail address).
IDEMPOTENCY_SCOPE_MAX_LENGTH = 255

# One answer per (scope, key). The key is claimed by inserting its row first in the unit of work of the write:
# a concurrent claim of the same key waits on the primary key until that unit of work ends. The response
# columns stay empty until the answer is recorded, just before the commit; a row committed without one
# counts as free. ``expires_at`` is indexed for the bounded purge of expired rows.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(IDEMPOTENCY_SCOPE_MAX_LENGTH), nullable=False),
    Column("idempotency_key", String(KEY_MAX_LENGTH), nullable=False),
    Column("request_method", String(16), nullable=False),
    Column("request_path", String(2048), nullable=False),
    Column("request_fingerprint", String(64), nullable=False),
    Column("response_status", SmallInteger, nullable=True),
    Column("response_headers", JSON, nullable=True),
    Column("response_body", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("scope", "idempotency_key"),
    Index(None, "expires_at"),
)
