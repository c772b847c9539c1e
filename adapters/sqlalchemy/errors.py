"""Turns driver errors into the errors of the ports, so that no SQL or driver text travels further."""

from __future__ import annotations

import enum
import logging
import os
import re
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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
# 57P01 admin shutdown), 40001/40P01 serialization failure and deadlock, and, on connecting, 28 a login no
# longer let in and 3D000 a database dropped or renamed while the service runs.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57", "40001", "40P01", "28", "3D000")


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


class Refusal(enum.Enum):
    """Why a connection to the database was not made, in the terms an operator acts on."""

    MISSING_DATABASE = enum.auto()  # the server runs, the database named in the URL does not exist
    LOGIN_REJECTED = enum.auto()  # unknown role, or pg_hba.conf does not let it in
    WRONG_PASSWORD = enum.auto()
    UNKNOWN_HOST = enum.auto()  # the host name does not resolve
    NO_ANSWER = enum.auto()  # a timeout: nothing answered in time
    NOT_LISTENING = enum.auto()  # refused, unreachable network, ...: an error of the operating system
    FILE_INACCESSIBLE = enum.auto()  # SQLite cannot open or write its file
    UNAVAILABLE = enum.auto()  # anything else that means "the database cannot serve now"


@dataclass(frozen=True)
class ConnectionRefusal:
    """What ``refusal_of`` found: the kind, and the server's or operating system's own words."""

    kind: Refusal
    words: str


_SQLITE_FILE_ERRORS = frozenset({"SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_READONLY_DIRECTORY"})


def refusal_of(error: BaseException) -> ConnectionRefusal | None:
    """Why the database could not be used, when ``error`` (or an error it was raised from) says the database
    cannot be reached or does not let the service in; ``None`` for anything else (a bug must stay visible)."""
    seen: BaseException | None = error
    while seen is not None:
        refusal = _refusal(seen)
        if refusal is not None:
            return refusal
        seen = seen.__cause__
    return None


def _refusal(error: BaseException) -> ConnectionRefusal | None:
    driver = _driver_error(error)
    words = str(driver)
    if isinstance(driver, asyncpg.InvalidCatalogNameError):
        return ConnectionRefusal(Refusal.MISSING_DATABASE, words)
    if isinstance(driver, asyncpg.InvalidPasswordError):
        return ConnectionRefusal(Refusal.WRONG_PASSWORD, words)
    if isinstance(driver, asyncpg.InvalidAuthorizationSpecificationError):
        return ConnectionRefusal(Refusal.LOGIN_REJECTED, words)
    if isinstance(driver, sqlite3.Error) and getattr(driver, "sqlite_errorname", "") in _SQLITE_FILE_ERRORS:
        return ConnectionRefusal(Refusal.FILE_INACCESSIBLE, words)
    # TimeoutError and socket.gaierror are OSErrors too: the more precise ones first.
    if isinstance(driver, TimeoutError | sa_exc.TimeoutError):
        return ConnectionRefusal(Refusal.NO_ANSWER, words)
    if isinstance(driver, socket.gaierror):
        return ConnectionRefusal(Refusal.UNKNOWN_HOST, driver.strerror or words)
    if isinstance(driver, OSError):
        # asyncpg's own text is "Connect call failed (address)"; the errno's name says why.
        return ConnectionRefusal(Refusal.NOT_LISTENING, os.strerror(driver.errno) if driver.errno else words)
    if (isinstance(error, StorageUnavailable) and error.__cause__ is None) or is_unavailable(error):
        return ConnectionRefusal(Refusal.UNAVAILABLE, words)
    return None
