"""The SQL idempotency records: one row of ``idempotency_keys`` per (scope, key).

A claim is an upsert (``INSERT ... ON CONFLICT DO UPDATE ... WHERE``), the same statement on PostgreSQL and
SQLite: it inserts the key's row, or takes over a row that expired or was committed without an answer, or
leaves a live row alone. On PostgreSQL a claim of a key that another open transaction inserted waits on the
primary key until that transaction ends, then sees its outcome; SQLite lets one transaction in at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import CursorResult, Executable, Row, Table, bindparam, delete, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sqlalchemy.errors import storage_errors
from adapters.sqlalchemy.statements import TransactionStatements
from adapters.sqlalchemy.tables import idempotency_keys
from application.idempotency import IdempotencyRecord, IdempotencyRecords, KeyedRequest, StoredResponse

_KEY_COLUMNS: Final = ("scope", "idempotency_key")


def _utc(moment: datetime) -> datetime:
    # SQLite keeps datetimes as text without an offset and compares them as text: UTC in, UTC out.
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _is_slot_of(request: KeyedRequest) -> Any:
    table = idempotency_keys
    return (table.c.scope == request.scope) & (table.c.idempotency_key == request.key)


def _to_record(row: Row[Any]) -> IdempotencyRecord:
    if row.response_status is None:
        # The upsert of a claim takes over every row without an answer, so it never reads one.
        raise RuntimeError("an idempotency record without an answer was read")
    return IdempotencyRecord(
        request=KeyedRequest(
            scope=row.scope,
            key=row.idempotency_key,
            method=row.request_method,
            path=row.request_path,
            fingerprint=row.request_fingerprint,
        ),
        response=StoredResponse(
            status=row.response_status,
            headers=tuple((name, value) for name, value in row.response_headers),
            body=bytes(row.response_body),
        ),
        created_at=_utc(row.created_at),
        expires_at=_utc(row.expires_at),
    )


def _claim(insert_into: Callable[[Table], postgresql.Insert | sqlite.Insert]) -> Executable:
    """Insert the key's row, or take over a row that expired or was committed without an answer; ``RETURNING``
    tells which (nothing: a live answer holds the key)."""
    table = idempotency_keys
    fresh = insert_into(table).values(
        {column.name: bindparam(column.name, type_=column.type) for column in table.c if column.name in _CLAIMED}
    )
    return fresh.on_conflict_do_update(
        index_elements=[table.c[name] for name in _KEY_COLUMNS],
        set_={column.name: fresh.excluded[column.name] for column in table.c if column.name not in _KEY_COLUMNS},
        where=or_(
            table.c.expires_at <= bindparam("now", type_=table.c.expires_at.type), table.c.response_status.is_(None)
        ),
    ).returning(table.c.scope)


_CLAIMED: Final = (*_KEY_COLUMNS, "request_method", "request_path", "request_fingerprint", "created_at", "expires_at")
# The upsert is spelled alike but built by each dialect's own insert().
_CLAIM_BY_DIALECT: Final = {"postgresql": _claim(postgresql.insert), "sqlite": _claim(sqlite.insert)}
_HELD: Final = select(idempotency_keys).where(
    idempotency_keys.c.scope == bindparam("scope"), idempotency_keys.c.idempotency_key == bindparam("key")
)


class SqlIdempotencyRecords(IdempotencyRecords):
    def __init__(self, statements: TransactionStatements) -> None:
        self._statements = statements

    async def claim(self, request: KeyedRequest, *, now: datetime, expires_at: datetime) -> IdempotencyRecord | None:
        parameters = {
            "scope": request.scope,
            "idempotency_key": request.key,
            "request_method": request.method,
            "request_path": request.path,
            "request_fingerprint": request.fingerprint,
            "created_at": _utc(now),
            "expires_at": _utc(expires_at),
            "now": _utc(now),
        }
        with storage_errors():
            claim = _CLAIM_BY_DIALECT[self._statements.dialect_name]
            if (await self._statements.execute(claim, parameters)).first() is not None:
                return None
            # A live answer holds the key. The upsert locked its row, and this new statement sees it committed.
            held = await self._statements.execute(_HELD, {"scope": request.scope, "key": request.key})
            row = held.one()
        return _to_record(row)

    async def complete(self, request: KeyedRequest, response: StoredResponse) -> None:
        table = idempotency_keys
        statement = (
            update(table)
            .where(_is_slot_of(request), table.c.response_status.is_(None))
            .values(
                response_status=response.status,
                response_headers=[[name, value] for name, value in response.headers],
                response_body=response.body,
            )
        )
        with storage_errors():
            result = cast(CursorResult[Any], await self._statements.execute(statement))
        if result.rowcount != 1:
            raise RuntimeError("this unit of work holds no unanswered claim of that key")

    async def purge_expired(self, *, now: datetime, limit: int) -> int:
        table = idempotency_keys
        # SKIP LOCKED: rows that another transaction is claiming are its business, and waiting for them could
        # deadlock two purges. SQLite has no row locks (and SQLAlchemy leaves the clause out there).
        doomed = (
            select(table.c.scope, table.c.idempotency_key)
            .where(table.c.expires_at <= _utc(now))
            .order_by(table.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = delete(table).where(tuple_(table.c.scope, table.c.idempotency_key).in_(doomed))
        with storage_errors():
            result = cast(CursorResult[Any], await self._statements.execute(statement))
        return result.rowcount
