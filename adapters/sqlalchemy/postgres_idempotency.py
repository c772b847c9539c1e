"""The PostgreSQL idempotency records, on the driver: the statements of ``idempotency.SqlIdempotencyRecords``
(which SQLite uses, and whose docstring explains the claim) as fixed SQL text."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final

from adapters.sqlalchemy.errors import storage_errors
from adapters.sqlalchemy.postgres_driver import UnitOfWorkStatements, rows_changed
from application.idempotency import IdempotencyRecord, IdempotencyRecords, KeyedRequest, StoredResponse

# Inserts the key's row, or takes over a row that expired or was committed without an answer ($6 is now), or
# leaves a live row alone (and then returns nothing). A claim of a key that another open transaction inserted
# waits on the primary key until that transaction ends, then sees its outcome.
_CLAIM: Final = """
INSERT INTO idempotency_keys AS held (scope, idempotency_key, request_method, request_path, request_fingerprint,
    response_status, response_headers, response_body, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, NULL, NULL, NULL, $6, $7)
ON CONFLICT (scope, idempotency_key) DO UPDATE SET
    request_method = excluded.request_method, request_path = excluded.request_path,
    request_fingerprint = excluded.request_fingerprint, response_status = NULL, response_headers = NULL,
    response_body = NULL, created_at = excluded.created_at, expires_at = excluded.expires_at
WHERE held.expires_at <= $6 OR held.response_status IS NULL
RETURNING scope
"""
# The headers as text: whatever JSON codec the connection has, the answer is parsed here.
_HELD: Final = """
SELECT request_method, request_path, request_fingerprint, response_status, response_headers::text, response_body,
    created_at, expires_at
FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2
"""
_COMPLETE: Final = """
UPDATE idempotency_keys SET response_status = $3, response_headers = $4::text::json, response_body = $5
WHERE scope = $1 AND idempotency_key = $2 AND response_status IS NULL
"""
# SKIP LOCKED: rows that another transaction is claiming are its business, and waiting for them could
# deadlock two purges.
_PURGE: Final = """
DELETE FROM idempotency_keys WHERE (scope, idempotency_key) IN (
    SELECT scope, idempotency_key FROM idempotency_keys WHERE expires_at <= $1
    ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
"""


class PostgresIdempotencyRecords(IdempotencyRecords):
    def __init__(self, statements: UnitOfWorkStatements) -> None:
        self._statements = statements

    async def claim(self, request: KeyedRequest, *, now: datetime, expires_at: datetime) -> IdempotencyRecord | None:
        with storage_errors():
            connection = await self._statements.in_transaction()
            claimed = await connection.fetchval(
                _CLAIM, request.scope, request.key, request.method, request.path, request.fingerprint, now, expires_at
            )
            if claimed is not None:
                return None
            # A live answer holds the key. The upsert locked its row, and this new statement sees it committed.
            row = await connection.fetchrow(_HELD, request.scope, request.key)
        if row is None or row[3] is None:
            # The upsert of a claim takes over every row without an answer, so it never reads one.
            raise RuntimeError("an idempotency record without an answer was read")
        return IdempotencyRecord(
            request=KeyedRequest(scope=request.scope, key=request.key, method=row[0], path=row[1], fingerprint=row[2]),
            response=StoredResponse(
                status=row[3], headers=tuple((name, value) for name, value in json.loads(row[4])), body=row[5]
            ),
            created_at=row[6],
            expires_at=row[7],
        )

    async def complete(self, request: KeyedRequest, response: StoredResponse) -> None:
        headers = json.dumps([[name, value] for name, value in response.headers])
        with storage_errors():
            connection = await self._statements.in_transaction()
            status = await connection.execute(
                _COMPLETE, request.scope, request.key, response.status, headers, response.body
            )
        if rows_changed(status) != 1:
            raise RuntimeError("this unit of work holds no unanswered claim of that key")

    async def purge_expired(self, *, now: datetime, limit: int) -> int:
        with storage_errors():
            connection = await self._statements.in_transaction()
            status = await connection.execute(_PURGE, now, limit)
        return rows_changed(status)
