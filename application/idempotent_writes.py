"""The transaction of a write use case, and the idempotency key that makes it happen at most once.

Without a key, ``transaction(uow)`` is ``async with uow:`` and its ``commit(result)`` is ``uow.commit()``.
With one (an ``IdempotentWrite``), the unit of work first claims the key: the same request answered before
raises ``AlreadyAnswered`` with that answer, another request under that key ``IdempotencyKeyReused``, and
nothing is written. Otherwise ``commit(result)`` records the answer to ``result`` in the same unit of work as
the write, so the two commit or roll back together. A second request with the key, arriving while the first
is still open, waits for it (the claim) and then gets its answer.

Which outcomes are recorded: successes, and the refusals in ``FINAL_REFUSALS``, which depend on the stored
state at the time and which a retry would meet again (a taken username or email, an unknown user, a version
that moved on). Not recorded, so that a retry really runs again: a storage failure or any unexpected error;
``VersionConflict``, which only says that others were changing the user at that moment; and invalid input,
which depends on the request alone (a retry gets the same answer anyway, and a corrected request may reuse
the key).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Final, Generic, TypeVar

from application.errors import PreconditionFailed
from application.idempotency import AlreadyAnswered, IdempotencyKeyReused, KeyedRequest, StoredResponse
from application.unit_of_work import UnitOfWork
from domain.errors import EmailTaken, UsernameTaken, UserNotFound

T = TypeVar("T")

Clock = Callable[[], datetime]

FINAL_REFUSALS: Final = (UsernameTaken, EmailTaken, UserNotFound, PreconditionFailed)
# Each recorded answer deletes up to this many expired ones: the table cannot outgrow the live keys by much,
# and no write pays for a long clean-up.
PURGE_BATCH: Final = 100


class IdempotentWrite(Generic[T]):
    """One keyed request, and how to turn its outcome into the answer to store.

    ``answer`` renders the use case's result, ``refusal`` one of the ``FINAL_REFUSALS``; ``ttl`` is how long
    the answer is kept, counted from the moment the key is claimed by ``clock``.
    """

    def __init__(
        self,
        request: KeyedRequest,
        *,
        answer: Callable[[T], StoredResponse],
        refusal: Callable[[Exception], StoredResponse],
        clock: Clock,
        ttl: timedelta,
    ) -> None:
        self.request = request
        self.answer = answer
        self._refusal = refusal
        self._clock = clock
        self._ttl = ttl

    async def claim(self, uow: UnitOfWork) -> None:
        now = self._clock()
        record = await uow.idempotency.claim(self.request, now=now, expires_at=now + self._ttl)
        if record is None:
            return
        if not record.request.same_request_as(self.request):
            raise IdempotencyKeyReused(record.request, self.request)
        raise AlreadyAnswered(record.response)

    async def record(self, uow: UnitOfWork, response: StoredResponse) -> None:
        await uow.idempotency.complete(self.request, response)
        await uow.idempotency.purge_expired(now=self._clock(), limit=PURGE_BATCH)

    async def record_refusal(self, uow: UnitOfWork, refusal: Exception) -> None:
        """Record the refusal in a unit of work of its own: the write's was rolled back with the claim in it
        (on PostgreSQL a unique violation leaves nothing else to do with it)."""
        async with uow:
            # Between the two units of work a retry may have claimed the key and answered: then that answer
            # is the one for every request with this key, this one included.
            await self.claim(uow)
            await self.record(uow, self._refusal(refusal))
            await uow.commit()


class Transaction(Generic[T]):
    def __init__(self, uow: UnitOfWork, write: IdempotentWrite[T] | None) -> None:
        self._uow = uow
        self._write = write

    async def commit(self, result: T) -> None:
        """Commit the unit of work, with the answer to ``result`` when the write is keyed."""
        if self._write is not None:
            await self._write.record(self._uow, self._write.answer(result))
        await self._uow.commit()


@asynccontextmanager
async def transaction(uow: UnitOfWork, write: IdempotentWrite[T] | None = None) -> AsyncIterator[Transaction[T]]:
    if write is None:
        async with uow:
            yield Transaction(uow, None)
        return
    try:
        async with uow:
            await write.claim(uow)
            yield Transaction(uow, write)
    except FINAL_REFUSALS as refusal:
        await write.record_refusal(uow, refusal)
        raise
