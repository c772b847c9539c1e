"""The use cases on users, run on the in-memory unit of work."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from adapters.memory import MemoryStore, MemoryUnitOfWork, MemoryUserQueries
from application.errors import PreconditionFailed
from application.users import (
    MAX_PAGE_SIZE,
    UserFilter,
    delete_user,
    get_user,
    list_users,
    register_user,
    update_user,
)
from domain.errors import EmailTaken, InvalidUser, UsernameTaken, UserNotFound, VersionConflict
from domain.users import User, UserChanges

pytestmark = pytest.mark.memory


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def uow(store: MemoryStore) -> MemoryUnitOfWork:
    return MemoryUnitOfWork(store)


@pytest.fixture
def queries(store: MemoryStore) -> MemoryUserQueries:
    return MemoryUserQueries(store)


@pytest.fixture
async def alice(uow: MemoryUnitOfWork) -> User:
    return await register_user(uow, username="Alice", email="alice@example.com")


class RacedUnitOfWork(MemoryUnitOfWork):
    """A unit of work that loses races: before each of its first ``races`` commits (every one if ``None``),
    another unit of work on the same store commits a change of the same user."""

    def __init__(self, store: MemoryStore, user_id: UUID, *, races: int | None) -> None:
        super().__init__(store)
        self.user_id = user_id
        self.races_left = races
        self.commits = 0
        self.competitor_changes = 0

    async def commit(self) -> None:
        self.commits += 1
        if self.races_left is None or self.races_left > 0:
            if self.races_left is not None:
                self.races_left -= 1
            self.competitor_changes += 1
            await update_user(
                MemoryUnitOfWork(self.store),
                self.user_id,
                UserChanges(full_name=f"Competitor {self.competitor_changes}"),
            )
        await super().commit()


# --- register and get ------------------------------------------------------------------------------------------


async def test_a_registered_user_can_be_read_back(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, store: MemoryStore
) -> None:
    user = await register_user(uow, username="Alice", email="Alice@Example.com", full_name="Alice L.", is_active=False)

    assert user.version == 1
    assert user.email == "alice@example.com"
    assert await get_user(queries, user.id) == user
    assert await get_user(MemoryUserQueries(store), user.id) == user
    assert list(store.users) == [user.id]


@pytest.mark.parametrize("username", ["Alice", "alice", "ALICE", "aLiCe"])
async def test_a_username_is_taken_in_any_case(
    uow: MemoryUnitOfWork, store: MemoryStore, alice: User, username: str
) -> None:
    with pytest.raises(UsernameTaken):
        await register_user(uow, username=username, email="other@example.com")

    assert list(store.users) == [alice.id]


@pytest.mark.parametrize("email", ["alice@example.com", "Alice@Example.COM"])
async def test_an_email_is_taken_in_any_spelling(
    uow: MemoryUnitOfWork, store: MemoryStore, alice: User, email: str
) -> None:
    with pytest.raises(EmailTaken):
        await register_user(uow, username="someone_else", email=email)

    assert list(store.users) == [alice.id]


async def test_an_invalid_user_is_refused_and_nothing_is_stored(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, store: MemoryStore
) -> None:
    with pytest.raises(InvalidUser) as error:
        await register_user(uow, username="x", email="no-email", is_active="yes")

    assert [field_error.field for field_error in error.value.errors] == ["username", "email", "is_active"]
    assert store.users == {}
    assert (await list_users(queries)).items == []


async def test_getting_an_unknown_user_fails(queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User) -> None:
    unknown = uuid4()

    with pytest.raises(UserNotFound) as error:
        await get_user(queries, unknown)

    assert error.value.user_id == unknown


# --- list ------------------------------------------------------------------------------------------------------


async def _register_many(uow: MemoryUnitOfWork, count: int) -> list[User]:
    return [await register_user(uow, username=f"user{n}", email=f"user{n}@example.com") for n in range(count)]


async def test_list_walks_all_users_in_creation_order(queries: MemoryUserQueries, uow: MemoryUnitOfWork) -> None:
    users = await _register_many(uow, 7)

    pages = []
    after: UUID | None = None
    while True:
        page = await list_users(queries, limit=3, after=after)
        pages.append(page)
        if page.next_after is None:
            break
        assert page.next_after == page.items[-1].id
        after = page.next_after
        assert len(pages) < 10, "the walk does not end"

    assert [len(page.items) for page in pages] == [3, 3, 1]
    assert [user for page in pages for user in page.items] == users
    assert pages[-1].next_after is None


async def test_a_full_last_page_has_no_next(queries: MemoryUserQueries, uow: MemoryUnitOfWork) -> None:
    users = await _register_many(uow, 6)

    first = await list_users(queries, limit=3)
    second = await list_users(queries, limit=3, after=first.next_after)

    assert first.items == users[:3]
    assert first.next_after == users[2].id
    assert second.items == users[3:]
    assert second.next_after is None


async def test_an_empty_store_lists_an_empty_page(queries: MemoryUserQueries, uow: MemoryUnitOfWork) -> None:
    page = await list_users(queries)

    assert page.items == []
    assert page.next_after is None


async def test_list_filters_by_is_active(queries: MemoryUserQueries, uow: MemoryUnitOfWork) -> None:
    active = await register_user(uow, username="active1", email="a1@example.com")
    inactive = await register_user(uow, username="inactive1", email="i1@example.com", is_active=False)
    active2 = await register_user(uow, username="active2", email="a2@example.com")

    assert (await list_users(queries, where=UserFilter(is_active=False))).items == [inactive]
    assert (await list_users(queries, where=UserFilter(is_active=True))).items == [active, active2]
    assert (await list_users(queries)).items == [active, inactive, active2]


async def test_list_filters_by_username_case_insensitively(queries: MemoryUserQueries, uow: MemoryUnitOfWork) -> None:
    await _register_many(uow, 3)
    kim = await register_user(uow, username="Kim", email="kim@example.com")

    for spelling in ("Kim", "kim", "KIM"):
        assert (await list_users(queries, where=UserFilter(username=spelling))).items == [kim]
    assert (await list_users(queries, where=UserFilter(username="kimberly"))).items == []


async def test_list_filters_by_normalised_email(queries: MemoryUserQueries, uow: MemoryUnitOfWork) -> None:
    await _register_many(uow, 3)
    kim = await register_user(uow, username="kim", email="kim@example.com")

    for spelling in ("kim@example.com", "KIM@Example.com", "Kim@EXAMPLE.COM"):
        assert (await list_users(queries, where=UserFilter(email=spelling))).items == [kim]
    assert (await list_users(queries, where=UserFilter(email="kim@example.org"))).items == []


async def test_list_filters_combine(queries: MemoryUserQueries, uow: MemoryUnitOfWork) -> None:
    kim = await register_user(uow, username="kim", email="kim@example.com", is_active=False)

    assert (await list_users(queries, where=UserFilter(username="KIM", is_active=False))).items == [kim]
    assert (await list_users(queries, where=UserFilter(username="KIM", is_active=True))).items == []
    assert (await list_users(queries, where=UserFilter(username="kim", email="other@example.com"))).items == []


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(UserFilter(username="a b"), id="username-with-space"),
        pytest.param(UserFilter(username="ab"), id="username-too-short"),
        pytest.param(UserFilter(username="\u0430lice"), id="username-cyrillic"),
        pytest.param(UserFilter(email="not-an-email"), id="email-syntax"),
        pytest.param(UserFilter(email="a\x00@example.com"), id="email-nul"),
    ],
)
async def test_an_impossible_filter_lists_an_empty_page(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User, where: UserFilter
) -> None:
    page = await list_users(queries, where=where)

    assert page.items == []
    assert page.next_after is None


@pytest.mark.parametrize("limit", [0, -1, 101])
async def test_a_limit_outside_1_to_100_is_refused(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, limit: int
) -> None:
    with pytest.raises(ValueError, match="limit"):
        await list_users(queries, limit=limit)


@pytest.mark.parametrize("limit", [1, 100])
async def test_the_limits_1_and_100_are_accepted(queries: MemoryUserQueries, uow: MemoryUnitOfWork, limit: int) -> None:
    users = await _register_many(uow, 2)

    page = await list_users(queries, limit=limit)

    assert page.items == users[:limit]
    assert MAX_PAGE_SIZE == 100


# --- update ----------------------------------------------------------------------------------------------------


async def test_an_update_applies_the_changes_and_bumps_the_version(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User
) -> None:
    updated = await update_user(uow, alice.id, UserChanges(full_name="Alice Liddell", is_active=False))

    assert updated.version == 2
    assert updated.full_name == "Alice Liddell"
    assert updated.is_active is False
    assert updated.username == alice.username
    assert updated.created_at == alice.created_at
    assert updated.updated_at >= alice.updated_at
    assert await get_user(queries, alice.id) == updated


async def test_an_update_that_changes_nothing_keeps_the_version(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User
) -> None:
    result = await update_user(uow, alice.id, UserChanges(username="Alice", is_active=True))

    assert result == alice
    assert await get_user(queries, alice.id) == alice


async def test_updating_an_unknown_user_fails(uow: MemoryUnitOfWork) -> None:
    with pytest.raises(UserNotFound):
        await update_user(uow, uuid4(), UserChanges(full_name="Nobody"))


async def test_an_invalid_update_is_refused_and_nothing_changes(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User
) -> None:
    with pytest.raises(InvalidUser):
        await update_user(uow, alice.id, UserChanges(email="not-an-email"))

    assert await get_user(queries, alice.id) == alice


@pytest.mark.parametrize("username", ["bob", "BOB"])
async def test_renaming_onto_a_taken_username_fails(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User, username: str
) -> None:
    await register_user(uow, username="bob", email="bob@example.com")

    with pytest.raises(UsernameTaken):
        await update_user(uow, alice.id, UserChanges(username=username))

    assert await get_user(queries, alice.id) == alice


async def test_changing_to_a_taken_email_fails(queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User) -> None:
    await register_user(uow, username="bob", email="bob@example.com")

    with pytest.raises(EmailTaken):
        await update_user(uow, alice.id, UserChanges(email="BOB@example.com"))

    assert await get_user(queries, alice.id) == alice


async def test_a_case_only_rename_of_oneself_is_allowed(uow: MemoryUnitOfWork, alice: User) -> None:
    updated = await update_user(uow, alice.id, UserChanges(username="ALICE"))

    assert updated.username == "ALICE"
    assert updated.version == 2


async def test_an_update_conditional_on_the_current_version_succeeds(uow: MemoryUnitOfWork, alice: User) -> None:
    updated = await update_user(uow, alice.id, UserChanges(full_name="A."), if_version_in=frozenset({1, 7}))

    assert updated.version == 2
    assert updated.full_name == "A."


async def test_an_update_conditional_on_a_stale_version_fails(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User
) -> None:
    await update_user(uow, alice.id, UserChanges(full_name="First"))

    with pytest.raises(PreconditionFailed) as error:
        await update_user(uow, alice.id, UserChanges(full_name="Second"), if_version_in=frozenset({1}))

    assert error.value.user_id == alice.id
    current = await get_user(queries, alice.id)
    assert (current.full_name, current.version) == ("First", 2)


async def test_an_empty_version_set_never_matches(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User
) -> None:
    with pytest.raises(PreconditionFailed):
        await update_user(uow, alice.id, UserChanges(full_name="X"), if_version_in=frozenset())

    assert await get_user(queries, alice.id) == alice


async def test_an_unconditional_update_that_loses_a_race_is_reapplied_without_losing_the_other_change(
    store: MemoryStore, alice: User
) -> None:
    raced = RacedUnitOfWork(store, alice.id, races=1)

    updated = await update_user(raced, alice.id, UserChanges(username="alice2"))

    assert raced.commits == 2
    assert updated.username == "alice2"
    assert updated.full_name == "Competitor 1"
    assert updated.version == 3
    assert await get_user(MemoryUserQueries(store), alice.id) == updated


async def test_a_conditional_update_that_loses_a_race_fails_the_precondition(store: MemoryStore, alice: User) -> None:
    raced = RacedUnitOfWork(store, alice.id, races=1)

    with pytest.raises(PreconditionFailed):
        await update_user(raced, alice.id, UserChanges(username="alice2"), if_version_in=frozenset({1}))

    assert raced.commits == 1
    stored = await get_user(MemoryUserQueries(store), alice.id)
    assert stored.username == "Alice"
    assert stored.full_name == "Competitor 1"
    assert stored.version == 2


async def test_an_update_that_always_loses_gives_up_with_a_version_conflict(store: MemoryStore, alice: User) -> None:
    raced = RacedUnitOfWork(store, alice.id, races=None)

    with pytest.raises(VersionConflict) as error:
        await update_user(raced, alice.id, UserChanges(username="alice2"))

    assert error.value.user_id == alice.id
    assert 1 < raced.commits < 100
    stored = await get_user(MemoryUserQueries(store), alice.id)
    assert stored.username == "Alice"
    assert stored.full_name == f"Competitor {raced.commits}"
    assert stored.version == 1 + raced.competitor_changes


# --- delete ----------------------------------------------------------------------------------------------------


async def test_a_deleted_user_is_gone(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, store: MemoryStore, alice: User
) -> None:
    bob = await register_user(uow, username="bob", email="bob@example.com")

    await delete_user(uow, alice.id)

    with pytest.raises(UserNotFound):
        await get_user(queries, alice.id)
    assert (await list_users(queries)).items == [bob]
    assert list(store.users) == [bob.id]


async def test_a_deleted_users_name_and_email_are_free_again(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User
) -> None:
    await delete_user(uow, alice.id)

    again = await register_user(uow, username="alice", email="ALICE@example.com")

    assert again.id != alice.id
    assert (await list_users(queries)).items == [again]


async def test_deleting_an_unknown_user_fails(queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User) -> None:
    with pytest.raises(UserNotFound):
        await delete_user(uow, uuid4())

    assert await get_user(queries, alice.id) == alice


async def test_deleting_twice_fails_the_second_time(uow: MemoryUnitOfWork, alice: User) -> None:
    await delete_user(uow, alice.id)

    with pytest.raises(UserNotFound):
        await delete_user(uow, alice.id)


async def test_a_delete_conditional_on_the_current_version_succeeds(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User
) -> None:
    await delete_user(uow, alice.id, if_version_in=frozenset({1}))

    with pytest.raises(UserNotFound):
        await get_user(queries, alice.id)


async def test_a_delete_conditional_on_a_stale_version_keeps_the_user(
    queries: MemoryUserQueries, uow: MemoryUnitOfWork, alice: User
) -> None:
    updated = await update_user(uow, alice.id, UserChanges(full_name="Changed"))

    with pytest.raises(PreconditionFailed):
        await delete_user(uow, alice.id, if_version_in=frozenset({1}))

    assert await get_user(queries, alice.id) == updated


async def test_an_unconditional_delete_that_loses_a_race_is_retried(store: MemoryStore, alice: User) -> None:
    raced = RacedUnitOfWork(store, alice.id, races=1)

    await delete_user(raced, alice.id)

    assert raced.commits == 2
    assert store.users == {}


async def test_a_conditional_delete_that_loses_a_race_keeps_the_user(store: MemoryStore, alice: User) -> None:
    raced = RacedUnitOfWork(store, alice.id, races=1)

    with pytest.raises(PreconditionFailed):
        await delete_user(raced, alice.id, if_version_in=frozenset({1}))

    stored = await get_user(MemoryUserQueries(store), alice.id)
    assert stored.full_name == "Competitor 1"
    assert stored.version == 2
