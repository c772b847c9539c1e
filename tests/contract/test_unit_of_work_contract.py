"""The contract every storage adapter obeys, run on each of them: memory, SQLite and PostgreSQL.

The in-memory adapter is what users of this service put in their own tests; this suite is why they can
trust it to behave like the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest

from application.unit_of_work import UnitOfWork
from domain.errors import EmailTaken, UsernameTaken, UserNotFound, VersionConflict
from domain.repository import UserQuery
from domain.users import User, UserChanges
from tests.backends import Backend
from tests.factories import a_user


async def _store(backend: Backend, *users: User) -> None:
    async with backend.unit_of_work() as uow:
        for user in users:
            await uow.users.add(user)
        await uow.commit()


async def _get(backend: Backend, user: User) -> User | None:
    async with backend.unit_of_work() as uow:
        return await uow.users.get(user.id)


async def _fails_with(error: type[Exception], work: Callable[[UnitOfWork], Awaitable[None]], uow: UnitOfWork) -> None:
    """``work`` then commit must raise ``error``, from the write itself or at the latest from the commit."""
    with pytest.raises(error):
        async with uow:
            await work(uow)
            await uow.commit()


async def test_a_committed_user_reads_back_equal(backend: Backend) -> None:
    user = a_user(full_name="Zoë Ångström 山田", is_active=False)
    await _store(backend, user)

    assert await _get(backend, user) == user


async def test_an_unknown_id_reads_as_none(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        assert await uow.users.get(uuid4()) is None


async def test_writes_are_invisible_to_others_until_commit(backend: Backend) -> None:
    user = a_user()
    async with backend.unit_of_work() as writer:
        await writer.users.add(user)
        assert await writer.users.get(user.id) == user  # a unit of work sees its own writes
        if backend.name != "sqlite":  # SQLite serialises units of work: a reader would wait for the writer
            async with backend.unit_of_work() as reader:
                assert await reader.users.get(user.id) is None
        await writer.commit()

    assert await _get(backend, user) == user


async def test_leaving_without_commit_rolls_back(backend: Backend) -> None:
    user = a_user()
    async with backend.unit_of_work() as uow:
        await uow.users.add(user)

    assert await _get(backend, user) is None


async def test_an_exception_rolls_everything_back(backend: Backend) -> None:
    first, second = a_user(), a_user()
    with pytest.raises(RuntimeError):
        async with backend.unit_of_work() as uow:
            await uow.users.add(first)
            await uow.users.add(second)
            raise RuntimeError("the use case failed half-way")

    assert await _get(backend, first) is None
    assert await _get(backend, second) is None


async def test_explicit_rollback_discards_and_later_commit_has_nothing_to_write(backend: Backend) -> None:
    user = a_user()
    async with backend.unit_of_work() as uow:
        await uow.users.add(user)
        await uow.rollback()
        await uow.commit()

    assert await _get(backend, user) is None


async def test_one_unit_of_work_can_be_entered_again(backend: Backend) -> None:
    first, second = a_user(), a_user()
    uow = backend.unit_of_work()
    async with uow:
        await uow.users.add(first)
        await uow.commit()
    async with uow:
        await uow.users.add(second)
        await uow.commit()

    assert await _get(backend, first) == first
    assert await _get(backend, second) == second


@pytest.mark.parametrize("taken", ["alice", "ALICE", "Alice", "aLiCe"])
async def test_usernames_are_unique_whatever_their_case(backend: Backend, taken: str) -> None:
    await _store(backend, a_user("Alice"))

    await _fails_with(UsernameTaken, lambda uow: uow.users.add(a_user(taken)), backend.unit_of_work())


async def test_emails_are_unique_whatever_their_case(backend: Backend) -> None:
    await _store(backend, a_user(email="Bob@Example.com"))

    await _fails_with(EmailTaken, lambda uow: uow.users.add(a_user(email="BOB@example.COM")), backend.unit_of_work())


async def test_two_new_users_with_one_name_in_one_unit_of_work_are_refused(backend: Backend) -> None:
    async def add_both(uow: UnitOfWork) -> None:
        await uow.users.add(a_user("carol"))
        await uow.users.add(a_user("Carol"))

    await _fails_with(UsernameTaken, add_both, backend.unit_of_work())
    async with backend.unit_of_work() as uow:
        assert await uow.users.list(UserQuery(limit=10)) == []


async def test_a_race_for_one_name_between_open_units_of_work_has_one_winner(backend: Backend) -> None:
    first_added = asyncio.Event()

    async def register(username: str, *, first: bool) -> User:
        user = a_user(username)
        async with backend.unit_of_work() as uow:
            if not first:
                await first_added.wait()
            await uow.users.add(user)
            if first:
                first_added.set()
                # The rival starts while this one is still open: PostgreSQL makes it wait on the unique
                # index, SQLite on the connection; memory lets it through and checks again at commit.
                await asyncio.sleep(0.05)
            await uow.commit()
        return user

    outcomes = await asyncio.gather(register("dave", first=True), register("DAVE", first=False), return_exceptions=True)

    winners = [outcome for outcome in outcomes if isinstance(outcome, User)]
    losers = [outcome for outcome in outcomes if not isinstance(outcome, User)]
    assert len(winners) == 1
    assert [type(loser) for loser in losers] == [UsernameTaken]
    async with backend.unit_of_work() as uow:
        assert await uow.users.list(UserQuery(limit=10)) == winners


async def test_a_name_freed_in_the_same_unit_of_work_can_be_taken(backend: Backend) -> None:
    old = a_user("erin")
    await _store(backend, old)

    newcomer = a_user("Erin")
    async with backend.unit_of_work() as uow:
        renamed = old.change(UserChanges(username="erin.old"))
        await uow.users.update(renamed, expected_version=old.version)
        await uow.users.add(newcomer)
        await uow.commit()

    assert await _get(backend, newcomer) == newcomer
    assert await _get(backend, old) == renamed


async def test_update_stores_the_new_version(backend: Backend) -> None:
    user = a_user()
    await _store(backend, user)
    changed = user.change(UserChanges(full_name="Frank", is_active=False))

    async with backend.unit_of_work() as uow:
        await uow.users.update(changed, expected_version=1)
        await uow.commit()

    stored = await _get(backend, user)
    assert stored == changed
    assert stored is not None
    assert stored.version == 2


async def test_update_from_a_stale_version_conflicts(backend: Backend) -> None:
    user = a_user()
    await _store(backend, user)
    first = user.change(UserChanges(full_name="first"))
    async with backend.unit_of_work() as uow:
        await uow.users.update(first, expected_version=1)
        await uow.commit()

    stale = user.change(UserChanges(full_name="second"))
    await _fails_with(VersionConflict, lambda uow: uow.users.update(stale, expected_version=1), backend.unit_of_work())
    assert await _get(backend, user) == first


async def test_a_concurrent_change_between_read_and_write_conflicts(backend: Backend) -> None:
    user = a_user()
    await _store(backend, user)

    async def change_meanwhile() -> None:
        async with backend.unit_of_work() as other:
            current = await other.users.get(user.id)
            assert current is not None
            await other.users.update(current.change(UserChanges(full_name="other")), expected_version=1)
            await other.commit()

    async with backend.unit_of_work() as reader:
        read = await reader.users.get(user.id)
    assert read is not None
    await change_meanwhile()

    mine = read.change(UserChanges(full_name="mine"))
    await _fails_with(VersionConflict, lambda uow: uow.users.update(mine, expected_version=1), backend.unit_of_work())


async def test_update_of_a_missing_user_is_not_found(backend: Backend) -> None:
    ghost = a_user()
    changed = ghost.change(UserChanges(full_name="ghost"))

    await _fails_with(UserNotFound, lambda uow: uow.users.update(changed, expected_version=1), backend.unit_of_work())


async def test_update_onto_a_taken_username_or_email_is_refused(backend: Backend) -> None:
    grace, heidi = a_user("grace"), a_user("heidi")
    await _store(backend, grace, heidi)

    to_name = heidi.change(UserChanges(username="GRACE"))
    await _fails_with(UsernameTaken, lambda uow: uow.users.update(to_name, expected_version=1), backend.unit_of_work())
    to_email = heidi.change(UserChanges(email=grace.email.upper()))
    await _fails_with(EmailTaken, lambda uow: uow.users.update(to_email, expected_version=1), backend.unit_of_work())
    assert await _get(backend, heidi) == heidi


async def test_a_user_may_change_the_case_of_its_own_name(backend: Backend) -> None:
    ivan = a_user("ivan")
    await _store(backend, ivan)
    recased = ivan.change(UserChanges(username="Ivan"))

    async with backend.unit_of_work() as uow:
        await uow.users.update(recased, expected_version=1)
        await uow.commit()

    assert await _get(backend, ivan) == recased


async def test_remove_deletes(backend: Backend) -> None:
    user = a_user()
    await _store(backend, user)

    async with backend.unit_of_work() as uow:
        await uow.users.remove(user.id, expected_version=1)
        await uow.commit()

    assert await _get(backend, user) is None


async def test_remove_from_a_stale_version_conflicts_and_keeps_the_user(backend: Backend) -> None:
    user = a_user()
    await _store(backend, user)

    await _fails_with(
        VersionConflict, lambda uow: uow.users.remove(user.id, expected_version=7), backend.unit_of_work()
    )
    assert await _get(backend, user) == user


async def test_remove_of_a_missing_user_is_not_found(backend: Backend) -> None:
    await _fails_with(UserNotFound, lambda uow: uow.users.remove(uuid4(), expected_version=1), backend.unit_of_work())


async def test_a_removed_user_frees_its_name_and_email(backend: Backend) -> None:
    judy = a_user("judy", "judy@example.com")
    await _store(backend, judy)
    async with backend.unit_of_work() as uow:
        await uow.users.remove(judy.id, expected_version=1)
        await uow.commit()

    again = a_user("Judy", "JUDY@example.com")
    await _store(backend, again)
    assert await _get(backend, again) == again


async def test_list_is_in_creation_order_and_keyset_paged(backend: Backend) -> None:
    created = [a_user() for _ in range(7)]
    await _store(backend, *reversed(created))  # insertion order must not matter, only the ids

    async with backend.unit_of_work() as uow:
        first = await uow.users.list(UserQuery(limit=3))
        second = await uow.users.list(UserQuery(limit=3, after=first[-1].id))
        rest = await uow.users.list(UserQuery(limit=3, after=second[-1].id))

    assert first + second + rest == created
    assert len(rest) == 1


async def test_a_walk_through_the_pages_sees_every_user_once_while_others_are_added(backend: Backend) -> None:
    existing = [a_user() for _ in range(10)]
    await _store(backend, *existing)

    seen: list[User] = []
    after = None
    while True:
        async with backend.unit_of_work() as uow:
            page = await uow.users.list(UserQuery(limit=3, after=after))
        if not page:
            break
        seen.extend(page)
        after = page[-1].id
        if len(seen) < len(existing):
            await _store(backend, a_user())  # someone registers between two pages

    seen_ids = [user.id for user in seen]
    assert len(seen_ids) == len(set(seen_ids))
    assert {user.id for user in existing} <= set(seen_ids)


async def test_list_filters_match_exactly_and_case_insensitively(backend: Backend) -> None:
    kim = a_user("Kim", "kim@example.com")
    kimberly = a_user("kimberly", "kimberly@example.com")
    inactive = a_user("leo", "leo@example.com", is_active=False)
    await _store(backend, kim, kimberly, inactive)

    async with backend.unit_of_work() as uow:
        assert await uow.users.list(UserQuery(limit=10, username="KIM")) == [kim]
        assert await uow.users.list(UserQuery(limit=10, email="kimberly@example.com")) == [kimberly]
        assert await uow.users.list(UserQuery(limit=10, is_active=False)) == [inactive]
        assert await uow.users.list(UserQuery(limit=10, is_active=True)) == [kim, kimberly]
        assert await uow.users.list(UserQuery(limit=10, username="kim", is_active=False)) == []


async def test_list_sees_uncommitted_writes_of_its_own_unit_of_work(backend: Backend) -> None:
    stored, pending = a_user(), a_user()
    await _store(backend, stored)

    async with backend.unit_of_work() as uow:
        await uow.users.add(pending)
        await uow.users.remove(stored.id, expected_version=1)
        assert await uow.users.list(UserQuery(limit=10)) == [pending]


async def test_timestamps_survive_the_round_trip_in_utc(backend: Backend) -> None:
    user = a_user()
    later = replace(user, updated_at=user.created_at + timedelta(days=400, microseconds=1))
    await _store(backend, later)

    stored = await _get(backend, user)
    assert stored is not None
    assert stored.created_at == user.created_at
    assert stored.updated_at == later.updated_at
    assert stored.created_at.utcoffset() == timedelta(0)


# --- batch writes and look-ups (bulk import) ------------------------------------------------------------------


async def _all(backend: Backend) -> list[User]:
    async with backend.unit_of_work() as uow:
        return await uow.users.list(UserQuery(limit=1000))


async def test_add_many_stores_every_user_in_one_unit_of_work(backend: Backend) -> None:
    batch = [a_user(full_name=f"Person {n}", is_active=n % 2 == 0) for n in range(5)]
    async with backend.unit_of_work() as uow:
        await uow.users.add_many(batch)
        assert await uow.users.list(UserQuery(limit=10)) == batch  # a unit of work sees its own writes
        if backend.name != "sqlite":  # SQLite serialises units of work: a reader would wait for the writer
            async with backend.unit_of_work() as reader:
                assert await reader.users.list(UserQuery(limit=10)) == []
        await uow.commit()

    assert await _all(backend) == batch


async def test_add_many_of_nothing_writes_nothing(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        await uow.users.add_many([])
        await uow.commit()

    assert await _all(backend) == []


async def test_add_many_left_without_commit_rolls_back(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        await uow.users.add_many([a_user(), a_user()])

    assert await _all(backend) == []


@pytest.mark.parametrize("taken", ["mallory", "MALLORY", "Mallory"])
async def test_add_many_refuses_a_stored_username_whatever_its_case_and_names_it(backend: Backend, taken: str) -> None:
    stored = a_user("Mallory")
    await _store(backend, stored)
    clash = a_user(taken)

    with pytest.raises(UsernameTaken) as caught:
        async with backend.unit_of_work() as uow:
            await uow.users.add_many([a_user(), clash, a_user()])
            await uow.commit()

    assert caught.value.username == taken
    assert await _all(backend) == [stored]  # nothing of the batch, not even the users before the clash


async def test_add_many_refuses_a_stored_email_and_names_it(backend: Backend) -> None:
    stored = a_user(email="niaj@example.com")
    await _store(backend, stored)
    clash = a_user(email="NIAJ@example.com")

    with pytest.raises(EmailTaken) as caught:
        async with backend.unit_of_work() as uow:
            await uow.users.add_many([a_user(), a_user(), clash])
            await uow.commit()

    assert caught.value.email == "niaj@example.com"
    assert await _all(backend) == [stored]


@pytest.mark.parametrize(
    ("first", "second", "error"),
    [
        (("olivia", "olivia@example.com"), ("OLIVIA", "other@example.com"), UsernameTaken),
        (("olivia", "olivia@example.com"), ("olivia2", "olivia@example.com"), EmailTaken),
    ],
)
async def test_add_many_refuses_a_batch_that_repeats_itself_naming_the_later_user(
    backend: Backend, first: tuple[str, str], second: tuple[str, str], error: type[Exception]
) -> None:
    later = a_user(*second)

    with pytest.raises(error) as caught:
        async with backend.unit_of_work() as uow:
            await uow.users.add_many([a_user(), a_user(*first), later])
            await uow.commit()

    assert str(caught.value) == str(error(later.username if error is UsernameTaken else later.email))
    assert await _all(backend) == []


async def test_add_many_refuses_a_name_pending_in_the_same_unit_of_work(backend: Backend) -> None:
    async def add_then_batch(uow: UnitOfWork) -> None:
        await uow.users.add(a_user("peggy"))
        await uow.users.add_many([a_user("Peggy")])

    await _fails_with(UsernameTaken, add_then_batch, backend.unit_of_work())
    assert await _all(backend) == []


async def test_a_race_between_two_batches_has_one_winner(backend: Backend) -> None:
    first_added = asyncio.Event()
    shared = "quentin"

    async def import_batch(*, first: bool) -> list[User]:
        batch = [a_user(), a_user(shared if first else shared.upper()), a_user()]
        async with backend.unit_of_work() as uow:
            if not first:
                await first_added.wait()
            await uow.users.add_many(batch)
            if first:
                first_added.set()
                await asyncio.sleep(0.05)  # the rival writes while this one is still open
            await uow.commit()
        return batch

    outcomes = await asyncio.gather(import_batch(first=True), import_batch(first=False), return_exceptions=True)

    winners = [outcome for outcome in outcomes if isinstance(outcome, list)]
    losers = [outcome for outcome in outcomes if not isinstance(outcome, list)]
    assert len(winners) == 1
    assert [type(loser) for loser in losers] == [UsernameTaken]
    assert await _all(backend) == winners[0]


async def test_existing_keys_answers_which_usernames_and_emails_are_held(backend: Backend) -> None:
    await _store(backend, a_user("Rupert", "rupert@example.com"), a_user("sybil", "sybil@example.com"))

    async with backend.unit_of_work() as uow:
        taken = await uow.users.existing_keys(
            ["rupert", "SYBIL", "trent"], ["sybil@example.com", "RUPERT@example.com", "nobody@example.com"]
        )

    assert taken == ({"rupert", "sybil"}, {"sybil@example.com", "rupert@example.com"})


async def test_existing_keys_of_nothing_is_nothing(backend: Backend) -> None:
    await _store(backend, a_user())

    async with backend.unit_of_work() as uow:
        assert await uow.users.existing_keys([], []) == (set(), set())


async def test_existing_keys_sees_the_pending_writes_of_its_own_unit_of_work(backend: Backend) -> None:
    removed, renamed = a_user("ursula", "ursula@example.com"), a_user("victor", "victor@example.com")
    await _store(backend, removed, renamed)

    async with backend.unit_of_work() as uow:
        await uow.users.add_many([a_user("walter", "walter@example.com")])
        await uow.users.remove(removed.id, expected_version=1)
        await uow.users.update(renamed.change(UserChanges(username="victoria")), expected_version=1)
        taken = await uow.users.existing_keys(
            ["walter", "ursula", "victor", "victoria"], ["walter@example.com", "ursula@example.com"]
        )

    assert taken == ({"walter", "victoria"}, {"walter@example.com"})
    async with backend.unit_of_work() as other:  # and nothing of it outside, once rolled back
        assert await other.users.existing_keys(["walter", "ursula"], ["walter@example.com"]) == (
            {"ursula"},
            set(),
        )
