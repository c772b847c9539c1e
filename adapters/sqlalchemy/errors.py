"""Turns driver errors into the errors of the ports, so that no SQL or driver text travels further."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

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


def _driver_error(error: BaseException) -> object:
    """The driver's own exception (asyncpg's, sqlite3's) behind a SQLAlchemy one."""
    if isinstance(error, sa_exc.DBAPIError) and error.orig is not None:
        return error.driver_exception
    return error


def _sqlstate(error: BaseException) -> str:
    return str(getattr(_driver_error(error), "sqlstate", None) or "")


def violated_constraint(error: sa_exc.IntegrityError) -> str | None:
    name = getattr(_driver_error(error), "constraint_name", None)
    if isinstance(name, str):
        return name
    # SQLite only says "UNIQUE constraint failed: users.username_key".
    message = str(_driver_error(error))
    if "users.username_key" in message:
        return USERNAME_UNIQUE
    if "users.email" in message:
        return EMAIL_UNIQUE
    return None


def reported_value(error: sa_exc.IntegrityError) -> str | None:
    """The value a unique violation was about, when the driver says (asyncpg: ``Key (email)=(a@b.c) already
    exists.``); ``None`` otherwise (SQLite names only the column)."""
    detail = getattr(_driver_error(error), "detail", None)
    if not isinstance(detail, str):
        return None
    match = _KEY_DETAIL.fullmatch(detail)
    return None if match is None else match.group(1)


def is_unavailable(error: BaseException) -> bool:
    # Not every failure arrives wrapped in a DBAPIError: the pool raises its own TimeoutError; asyncpg's connect
    # lets a bare OSError (ConnectionRefusedError while the server is down, SQLAlchemy issue 11956) or asyncio's
    # TimeoutError (DB_CONNECT_TIMEOUT) through.
    if isinstance(error, (sa_exc.TimeoutError, TimeoutError, OSError)):
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
    except sa_exc.IntegrityError as error:
        constraint = violated_constraint(error)
        if user is not None and constraint == USERNAME_UNIQUE:
            raise UsernameTaken(user.username) from None
        if user is not None and constraint == EMAIL_UNIQUE:
            raise EmailTaken(user.email) from None
        raise
    except Exception as error:
        if is_unavailable(error):
            # One line per failed request (the traceback at debug): during an outage every request fails.
            log.warning("storage unavailable: %s", type(error).__name__)
            log.debug("storage unavailable", exc_info=error)
            raise StorageUnavailable("the database cannot be reached") from error
        raise
