"""The bulk import and export use cases, on the in-memory unit of work."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from adapters.memory import MemoryStore, MemoryUnitOfWork, MemoryUserQueries
from application.bulk_export import export_users
from application.bulk_import import (
    MAX_BATCH_SIZE,
    ImportReport,
    RejectedRow,
    Row,
    UnreadableRow,
    import_users,
    user_from_fields,
)
from application.users import register_user
from domain.errors import FieldError, InvalidUser
from domain.users import User

pytestmark = pytest.mark.memory

USERNAME_RULE = "must be 3-32 characters of ASCII letters, digits, '_', '.' or '-', starting with a letter or digit"


class CountingUnitOfWork(MemoryUnitOfWork):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self.commits = 0

    async def commit(self) -> None:
        await super().commit()
        self.commits += 1


class RacedUnitOfWork(CountingUnitOfWork):
    """Before its first commit, a concurrent writer (the API, say) registers ``rival`` and commits first."""

    def __init__(self, store: MemoryStore, rival: Mapping[str, str]) -> None:
        super().__init__(store)
        self.rival: Mapping[str, str] | None = rival

    async def commit(self) -> None:
        if self.rival is not None:
            rival, self.rival = self.rival, None
            await register_user(MemoryUnitOfWork(self.store), username=rival["username"], email=rival["email"])
        await super().commit()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def uow(store: MemoryStore) -> CountingUnitOfWork:
    return CountingUnitOfWork(store)


def rows(*items: Mapping[str, object], first_line: int = 2) -> list[Row]:
    return [Row(line, fields) for line, fields in enumerate(items, start=first_line)]


def person(n: int, **fields: object) -> dict[str, object]:
    return {"username": f"user{n}", "email": f"user{n}@example.com", **fields}


def stored(store: MemoryStore) -> list[tuple[str, str, str | None, bool]]:
    return [
        (user.username, user.email, user.full_name, user.is_active)
        for user in (store.users[uid] for uid in store.ordered_ids)
    ]


# --- from fields to a user -------------------------------------------------------------------------------------


def test_fields_become_a_user_with_the_defaults_of_a_registration() -> None:
    user = user_from_fields({"username": "Alice", "email": "Alice@Example.com"})

    assert (user.username, user.email, user.full_name, user.is_active, user.version) == (
        "Alice",
        "alice@example.com",
        None,
        True,
        1,
    )


def test_every_problem_of_a_row_is_listed() -> None:
    with pytest.raises(InvalidUser) as caught:
        user_from_fields({"email": "nope", "is_active": "maybe", "nickname": "al"})

    assert caught.value.errors == [
        FieldError("username", "is required"),
        FieldError("email", "is not a valid email address: An email address must have an @-sign."),
        FieldError("is_active", "must be true or false"),
        FieldError("nickname", "is not a field of a user (the fields: username, email, full_name, is_active)"),
    ]


def test_an_unknown_field_alone_is_enough_to_refuse_a_row() -> None:
    with pytest.raises(InvalidUser) as caught:
        user_from_fields({**person(1), "id": "01a2"})

    assert caught.value.errors == [
        FieldError("id", "is not a field of a user (the fields: username, email, full_name, is_active)")
    ]


def test_a_problem_the_reader_found_takes_the_place_of_the_rules_message_for_that_field() -> None:
    reader_says = FieldError("is_active", "must be one of true, false, yes, no, 1, 0 (any case), or empty for true")

    with pytest.raises(InvalidUser) as caught:
        user_from_fields({"username": "x", "email": "x@example.com"}, [reader_says])

    assert caught.value.errors == [FieldError("username", USERNAME_RULE), reader_says]


# --- import ----------------------------------------------------------------------------------------------------


async def test_valid_rows_are_created_in_batches_of_one_unit_of_work_each(
    uow: CountingUnitOfWork, store: MemoryStore
) -> None:
    seen: list[tuple[int, int]] = []

    report = await import_users(
        uow,
        rows(*(person(n, full_name=f"Person {n}", is_active=n != 3) for n in range(5))),
        batch_size=2,
        on_batch=lambda so_far: seen.append((so_far.created, so_far.processed)),
    )

    assert report == ImportReport(created=5)
    assert uow.commits == 3
    assert seen == [(2, 2), (4, 4), (5, 5)]
    assert stored(store) == [(f"user{n}", f"user{n}@example.com", f"Person {n}", n != 3) for n in range(5)]


async def test_invalid_rows_are_rejected_with_their_line_and_reasons_and_the_rest_go_on(
    uow: CountingUnitOfWork, store: MemoryStore
) -> None:
    report = await import_users(
        uow, rows(person(1), {"username": "x", "email": "x@example.com"}, person(3), {"username": "dora"})
    )

    assert report.created == 2
    assert [(row.line, row.reason) for row in report.rejected] == [
        (
            3,
            "username: must be 3-32 characters of ASCII letters, digits, '_', '.' or '-', starting with a letter or "
            "digit",
        ),
        (5, "email: is required"),
    ]
    assert [username for username, *_ in stored(store)] == ["user1", "user3"]


async def test_rows_that_repeat_an_earlier_row_are_skipped_as_duplicates(
    uow: CountingUnitOfWork, store: MemoryStore
) -> None:
    report = await import_users(
        uow,
        rows(
            person(1),
            {"username": "USER1", "email": "new@example.com"},  # the same name, another case
            {"username": "another", "email": "User1@Example.com"},  # the same address, another spelling
            person(2),
        ),
        batch_size=2,  # the repeats straddle batches
    )

    assert (report.created, report.duplicates, report.rejected) == (2, 2, [])
    assert [username for username, *_ in stored(store)] == ["user1", "user2"]


async def test_importing_the_same_rows_again_creates_nothing(uow: CountingUnitOfWork, store: MemoryStore) -> None:
    await register_user(uow, username="User4", email="someone@example.com")
    input_rows = rows(*(person(n) for n in range(6)))

    first = await import_users(uow, input_rows, batch_size=4)
    again = await import_users(uow, input_rows, batch_size=4)

    assert (first.created, first.duplicates) == (5, 1)
    assert (again.created, again.duplicates) == (0, 6)
    assert len(store.users) == 6


async def test_unreadable_rows_are_rejected_in_line_order_with_their_text_and_the_rest_go_on(
    uow: CountingUnitOfWork, store: MemoryStore
) -> None:
    report = await import_users(
        uow,
        [
            Row(1, person(1), '{"username": "user1"...}'),
            UnreadableRow(2, "is not valid JSON (Expecting value at column 1)", "[oops"),
            Row(3, {"username": "x", "email": "x@example.com"}, "x-line"),
            UnreadableRow(4, "is an array, not a JSON object", '["user4"]'),
            Row(5, person(5)),
        ],
        batch_size=2,
    )

    assert report.created == 2
    assert report.rejected == [
        RejectedRow(2, "is not valid JSON (Expecting value at column 1)", "[oops"),
        RejectedRow(3, f"username: {USERNAME_RULE}", "x-line"),
        RejectedRow(4, "is an array, not a JSON object", '["user4"]'),
    ]
    assert [username for username, *_ in stored(store)] == ["user1", "user5"]


async def test_a_batch_of_only_duplicates_and_rejections_opens_no_write(
    uow: CountingUnitOfWork, store: MemoryStore
) -> None:
    report = await import_users(uow, rows(person(1), person(1), {"username": "x"}), batch_size=1)

    assert (report.created, report.duplicates, len(report.rejected)) == (1, 1, 1)
    assert uow.commits == 1


async def test_a_dry_run_checks_everything_and_writes_nothing(uow: CountingUnitOfWork, store: MemoryStore) -> None:
    await register_user(uow, username="user1", email="user1@example.com")
    before = dict(store.users)

    report = await import_users(uow, rows(person(1), person(2), person(2), {"username": "x"}, person(3)), dry_run=True)

    assert report.dry_run
    assert (report.created, report.duplicates, [row.line for row in report.rejected]) == (2, 2, [5])
    assert store.users == before


async def test_an_error_of_the_input_stops_the_import_and_drops_the_batch_it_interrupts(
    uow: CountingUnitOfWork, store: MemoryStore
) -> None:
    def broken() -> Iterator[Row]:
        yield from rows(person(1), person(2), person(3))
        raise ValueError("line 5: not JSON")

    reports: list[ImportReport] = []
    with pytest.raises(ValueError, match="line 5"):
        await import_users(uow, broken(), batch_size=2, on_batch=reports.append)

    assert [username for username, *_ in stored(store)] == ["user1", "user2"]
    assert reports[-1].created == 2


async def test_a_name_taken_concurrently_during_a_batch_ends_as_a_duplicate(store: MemoryStore) -> None:
    uow = RacedUnitOfWork(store, {"username": "USER2", "email": "rival@example.com"})

    report = await import_users(uow, rows(*(person(n) for n in range(4))))

    assert (report.created, report.duplicates, report.rejected) == (3, 1, [])
    assert sorted(username for username, *_ in stored(store)) == ["USER2", "user0", "user1", "user3"]


async def test_an_email_taken_concurrently_ends_as_a_duplicate(store: MemoryStore) -> None:
    uow = RacedUnitOfWork(store, {"username": "rival", "email": "user0@example.com"})

    report = await import_users(uow, rows(person(0), person(1)))

    assert (report.created, report.duplicates) == (1, 1)


@pytest.mark.parametrize("batch_size", [0, MAX_BATCH_SIZE + 1])
async def test_the_batch_size_is_bounded(uow: CountingUnitOfWork, batch_size: int) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        await import_users(uow, [], batch_size=batch_size)


async def test_nothing_to_import_is_an_empty_report(uow: CountingUnitOfWork) -> None:
    calls: list[ImportReport] = []

    assert await import_users(uow, [], on_batch=calls.append) == ImportReport()
    assert calls == []


# --- export ----------------------------------------------------------------------------------------------------


async def test_export_walks_every_page_in_creation_order(uow: CountingUnitOfWork) -> None:
    users = [await register_user(uow, username=f"user{n}", email=f"user{n}@example.com") for n in range(5)]

    exported: list[User] = [user async for user in export_users(MemoryUserQueries(uow.store), page_size=2)]

    assert exported == users


async def test_export_of_no_users_is_empty(uow: CountingUnitOfWork) -> None:
    assert [user async for user in export_users(MemoryUserQueries(uow.store))] == []
