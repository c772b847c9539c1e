"""Bulk import: many users from a file, under the same rules as one registration, written in batches.

Each row becomes a user through ``User.register``; a row that breaks a rule is rejected with its line number
and every broken rule, and the others go on; so is a row its reader could not read (an ``UnreadableRow``). A
row whose username (whatever its case) or email is already stored, or repeats an earlier row of the input, is
skipped as a duplicate, so importing the same input twice creates nothing the second time. Each batch is one
unit of work: it is written whole or not at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from application.unit_of_work import UnitOfWork
from domain.errors import EmailTaken, FieldError, InvalidUser, UsernameTaken
from domain.users import User, username_key

DEFAULT_BATCH_SIZE: Final = 1000
MAX_BATCH_SIZE: Final = 10_000
IMPORT_FIELDS: Final = ("username", "email", "full_name", "is_active")
REQUIRED_FIELDS: Final = ("username", "email")
# How many rows are checked between two turns of the event loop (about 5 ms of checks).
_ROWS_BETWEEN_YIELDS: Final = 50
_UNKNOWN_FIELD: Final = f"is not a field of a user (the fields: {', '.join(IMPORT_FIELDS)})"


class Row(NamedTuple):
    """A row of input: its line number (for messages), its fields by name, the text it was read from (for the
    rejects report), and the problems its reader found in values its format cannot give the field."""

    line: int
    fields: Mapping[str, object]
    text: str = ""
    problems: tuple[FieldError, ...] = ()


class UnreadableRow(NamedTuple):
    """A line its reader could not make into fields (invalid JSON, a CSV row with an extra field), and why."""

    line: int
    problem: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that was not imported: its line number, why (every broken rule), and the text it was read from."""

    line: int
    reason: str
    text: str = ""


@dataclass(slots=True)
class ImportReport:
    """What an import did so far. With ``dry_run``, ``created`` counts the users it would have created."""

    dry_run: bool = False
    created: int = 0
    duplicates: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.created + self.duplicates + len(self.rejected)


async def import_users(
    uow: UnitOfWork,
    rows: Iterable[Row | UnreadableRow],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    on_batch: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import ``rows`` ``batch_size`` at a time, each batch in one unit of work; report what became of them.

    ``on_batch`` is called with the report after every batch. An exception from ``rows`` (a file that cannot
    be read at all) stops the import: the batch it interrupts is not written, the batches before it stay
    committed, and the report so far is the one the last ``on_batch`` received. With ``dry_run`` every row is
    checked, duplicates against the storage included, and nothing is written.
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}")
    report = ImportReport(dry_run=dry_run)
    importer = _Importer(uow, report)
    # One batch is written while the next is checked: the checks are CPU work, the write mostly waiting.
    writing: asyncio.Task[None] | None = None

    async def written() -> None:
        nonlocal writing
        if writing is not None:
            task, writing = writing, None
            await task
            if on_batch is not None:
                on_batch(report)

    try:
        for batch in _batches(rows, batch_size):
            checked = await importer.check(batch)
            await written()
            writing = asyncio.create_task(importer.store(checked))
    finally:
        await written()
    return report


def _batches(rows: Iterable[Row | UnreadableRow], size: int) -> Iterator[list[Row | UnreadableRow]]:
    batch: list[Row | UnreadableRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True, slots=True)
class _CheckedBatch:
    candidates: list[User]
    rejected: list[RejectedRow]
    duplicates: int


class _Importer:
    def __init__(self, uow: UnitOfWork, report: ImportReport) -> None:
        self._uow = uow
        self._report = report
        # Every username key and email of the input so far: a later row holding one is a duplicate.
        self._seen_keys: set[str] = set()
        self._seen_emails: set[str] = set()

    async def check(self, rows: Sequence[Row | UnreadableRow]) -> _CheckedBatch:
        """The batch's new users, its rejects and its duplicates within the input."""
        candidates: list[User] = []
        rejected: list[RejectedRow] = []
        duplicates = 0
        for count, row in enumerate(rows, start=1):
            if count % _ROWS_BETWEEN_YIELDS == 0:
                await asyncio.sleep(0)  # lets the batch being written take its next step
            if isinstance(row, UnreadableRow):
                rejected.append(RejectedRow(row.line, row.problem, row.text))
                continue
            try:
                user = user_from_fields(row.fields, row.problems)
            except InvalidUser as error:
                reason = "; ".join(f"{problem.field}: {problem.message}" for problem in error.errors)
                rejected.append(RejectedRow(row.line, reason, row.text))
                continue
            key = username_key(user.username)
            if key in self._seen_keys or user.email in self._seen_emails:
                duplicates += 1
                continue
            self._seen_keys.add(key)
            self._seen_emails.add(user.email)
            candidates.append(user)
        return _CheckedBatch(candidates, rejected, duplicates)

    async def store(self, checked: _CheckedBatch) -> None:
        candidates = checked.candidates
        try:
            created, stored_duplicates = await self._write(candidates)
        except (UsernameTaken, EmailTaken):
            # A concurrent writer took a name or an address between our look-up and our insert: one by one,
            # the batch's other users still go in and the lost ones are duplicates like any other.
            created, stored_duplicates = await self._write_one_by_one(candidates)
        report = self._report
        report.created += created
        report.duplicates += checked.duplicates + stored_duplicates
        report.rejected.extend(checked.rejected)

    async def _write(self, candidates: Sequence[User]) -> tuple[int, int]:
        """Store the candidates that hold no stored username or email: (created, duplicates)."""
        if not candidates:
            return 0, 0
        async with self._uow as uow:
            taken_keys, taken_emails = await uow.users.existing_keys(
                [username_key(user.username) for user in candidates], [user.email for user in candidates]
            )
            fresh = [
                user
                for user in candidates
                if username_key(user.username) not in taken_keys and user.email not in taken_emails
            ]
            if not self._report.dry_run and fresh:
                await uow.users.add_many(fresh)
                await uow.commit()
        return len(fresh), len(candidates) - len(fresh)

    async def _write_one_by_one(self, candidates: Sequence[User]) -> tuple[int, int]:
        created = duplicates = 0
        for user in candidates:
            try:
                async with self._uow as uow:
                    await uow.users.add(user)
                    await uow.commit()
            except (UsernameTaken, EmailTaken):
                duplicates += 1
            else:
                created += 1
        return created, duplicates


def user_from_fields(fields: Mapping[str, object], problems: Sequence[FieldError] = ()) -> User:
    """A new user from the fields of one row; ``InvalidUser`` lists every problem of the row, in the order of
    ``IMPORT_FIELDS`` (unknown fields last).

    ``username`` and ``email`` are required, ``full_name`` defaults to none and ``is_active`` to true; any
    other field is refused rather than silently dropped (it is most likely a misspelt one). ``problems`` are
    those the row's reader found already; a field named there is not checked again.
    """
    found = list(problems)
    found += [FieldError(name, "is required") for name in REQUIRED_FIELDS if name not in fields]
    found += [FieldError(str(name), _UNKNOWN_FIELD) for name in fields if name not in IMPORT_FIELDS]
    try:
        user = User.register(
            username=fields.get("username"),
            email=fields.get("email"),
            full_name=fields.get("full_name"),
            is_active=fields.get("is_active", True),
        )
    except InvalidUser as error:
        named = {problem.field for problem in found}
        found += [rule for rule in error.errors if rule.field not in named]
    if found:
        raise InvalidUser(sorted(found, key=_field_order))
    return user


def _field_order(problem: FieldError) -> int:
    return IMPORT_FIELDS.index(problem.field) if problem.field in IMPORT_FIELDS else len(IMPORT_FIELDS)
