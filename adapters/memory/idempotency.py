"""The in-memory idempotency records: what the SQL table gives, including its row lock on a claimed key."""

from __future__ import annotations

import asyncio
import heapq
from dataclasses import dataclass
from datetime import datetime

from adapters.memory.store import MemoryStore, RecordSlot
from application.idempotency import IdempotencyRecord, IdempotencyRecords, KeyedRequest, StoredResponse


@dataclass(slots=True)
class _Claim:
    request: KeyedRequest
    created_at: datetime
    expires_at: datetime
    released: asyncio.Event
    response: StoredResponse | None = None


class MemoryIdempotencyRecords(IdempotencyRecords):
    """Claims hold their key in the store until this unit of work ends, as a row lock would; records and
    deletions reach the store at commit."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._claims: dict[RecordSlot, _Claim] = {}
        self._purged: dict[RecordSlot, IdempotencyRecord] = {}

    async def claim(self, request: KeyedRequest, *, now: datetime, expires_at: datetime) -> IdempotencyRecord | None:
        slot = (request.scope, request.key)
        while slot not in self._claims and (holder := self._store.claimed_keys.get(slot)) is not None:
            await holder.wait()
        record = self._store.idempotency.get(slot)
        if record is not None and record.expires_at > now:
            return record
        released = self._store.claimed_keys.setdefault(slot, asyncio.Event())
        self._claims[slot] = _Claim(request, now, expires_at, released)
        return None

    async def complete(self, request: KeyedRequest, response: StoredResponse) -> None:
        claim = self._claims.get((request.scope, request.key))
        if claim is None or claim.response is not None:
            raise RuntimeError("this unit of work holds no unanswered claim of that key")
        claim.response = response

    async def purge_expired(self, *, now: datetime, limit: int) -> int:
        store = self._store
        expired = (
            (slot, record)
            for slot, record in store.idempotency.items()
            if record.expires_at <= now and slot not in store.claimed_keys and slot not in self._purged
        )
        doomed = heapq.nsmallest(limit, expired, key=lambda item: item[1].expires_at)
        self._purged.update(doomed)
        return len(doomed)

    def commit(self) -> None:
        """No ``await`` in here: on one event loop, the records land at once."""
        records = self._store.idempotency
        for slot, purged in self._purged.items():
            if records.get(slot) is purged:
                del records[slot]
        for slot, claim in self._claims.items():
            if claim.response is not None:
                records[slot] = IdempotencyRecord(claim.request, claim.response, claim.created_at, claim.expires_at)
        self.rollback()

    def rollback(self) -> None:
        """Forget what is pending and let the claims go: whoever waits for one of the keys goes on."""
        for slot, claim in self._claims.items():
            del self._store.claimed_keys[slot]
            claim.released.set()
        self._claims.clear()
        self._purged.clear()
