"""Turns driver errors into the errors of the ports, so that no SQL or driver text travels further."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import exc as sa_exc

from adapters.sqlalchemy.tables import EMAIL_UNIQUE, USERNAME_UNIQUE
from application.errors import StorageUnavailable
from domain.errors import EmailTaken, UsernameTaken
from domain.users import User

log = logging.getLogger(__name__)

_KEY_DETAIL = re.compile(r"Key \([a-z_]+\)=\((.*)\) already exists\.", re.DOTALL)

# SQLSTATE classes and codes that mean "the database cannot serve this now", not "this request is wrong":
# 08 connection exception, 53 insufficient resources, 57 operator intervention (57014 statement timeout,
# 57P01 admin shutdown), 40001/40P01 serialization failure and deadlock.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57", "40001", "40P01")

# What asyncpg raises, where the PostgreSQL adapters use it directly, once a connection is gone. A backend
# ended by the server (pg_terminate_backend, a restart) can leave asyncpg's protocol in a state it reports as
# an InternalClientError before it notices the EOF.
CONNECTION_LOST = (
    OSError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)


def _sqlstate(error: sa_exc.DBAPIError) -> str:
    return str(getattr(error.orig, "sqlstate", None) or "")


def _driver_error(error: Exception) -> object:
    """asyncpg's own exception: the error itself where the driver is used directly, else the original one
    that SQLAlchemy's adapter wraps."""
    if isinstance(error, sa_exc.DBAPIError):
        return getattr(error.orig, "__cause__", None)
    return error


def violated_constraint(error: sa_exc.IntegrityError | asyncpg.UniqueViolationError) -> str | None:
    name = getattr(_driver_error(error), "constraint_name", None)
    if isinstance(name, str):
        return name
    # SQLite only says "UNIQUE constraint failed: users.username_key".
    message = str(error.orig if isinstance(error, sa_exc.DBAPIError) else error)
    if "users.username_key" in message:
        return USERNAME_UNIQUE
    if "users.email" in message:
        return EMAIL_UNIQUE
    return None


def reported_value(error: sa_exc.IntegrityError | asyncpg.UniqueViolationError) -> str | None:
    """The value a unique violation was about, when the driver says (asyncpg: ``Key (email)=(a@b.c) already
    exists.``); ``None`` otherwise (SQLite names only the column)."""
    detail = getattr(_driver_error(error), "detail", None)
    if not isinstance(detail, str):
        return None
    match = _KEY_DETAIL.fullmatch(detail)
    return None if match is None else match.group(1)


def is_unavailable(error: BaseException) -> bool:
    # Not every failure arrives wrapped in a DBAPIError: the pool raises its own TimeoutError when no
    # connection is free within DB_POOL_TIMEOUT; asyncpg's connect lets a bare OSError (ConnectionRefusedError
    # while the server is down, SQLAlchemy issue 11956) or asyncio's TimeoutError (DB_CONNECT_TIMEOUT) through.
    if isinstance(error, (sa_exc.TimeoutError, TimeoutError, *CONNECTION_LOST)):
        return True
    # The driver's own errors, where a driver is used directly (postgres_queries.py), carry the SQLSTATE too.
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        return (
            error.connection_invalidated
            or isinstance(error, sa_exc.InterfaceError | sa_exc.OperationalError)
            or _sqlstate(error).startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)
        )
    return False


@contextmanager
def storage_errors(user: User | None = None) -> Iterator[None]:
    """Map the errors of the statements in the block: unique violations to the domain's conflicts (the
    database is the final judge of uniqueness), and lost or overloaded connections to ``StorageUnavailable``."""
    try:
        yield
    except (sa_exc.IntegrityError, asyncpg.UniqueViolationError) as error:
        constraint = violated_constraint(error)
        if user is not None and constraint == USERNAME_UNIQUE:
            raise UsernameTaken(user.username) from None
        if user is not None and constraint == EMAIL_UNIQUE:
            raise EmailTaken(user.email) from None
        raise
    except Exception as error:
        if is_unavailable(error):
            # One line per failed request: during an outage every request fails, and a traceback each would
            # cost more than the request (the restart-under-load test had to lower the log level). The
            # traceback is there at debug.
            log.warning("storage unavailable: %s", type(error).__name__)
            log.debug("storage unavailable", exc_info=error)
            raise StorageUnavailable("the database cannot be reached") from error
        raise
