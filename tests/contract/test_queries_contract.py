"""The read-side port (``UserQueries``) on every adapter: committed state only, and the same answers as the
repository's reads."""

from __future__ import annotations

from uuid import uuid4

from domain.repository import UserQuery
from domain.users import UserChanges
from tests.backends import Backend
from tests.factories import a_user


async def test_a_committed_user_is_found_and_an_unknown_one_is_not(backend: Backend) -> None:
    user = a_user(full_name="Queried")
    async with backend.unit_of_work() as uow:
        await uow.users.add(user)
        await uow.commit()

    assert await backend.queries().get(user.id) == user
    assert await backend.queries().get(uuid4()) is None


async def test_uncommitted_writes_are_not_seen(backend: Backend) -> None:
    stored, pending = a_user(), a_user()
    async with backend.unit_of_work() as uow:
        await uow.users.add(stored)
        await uow.commit()

    async with backend.unit_of_work() as uow:
        await uow.users.add(pending)
        changed = stored.change(UserChanges(full_name="not yet"))
        await uow.users.update(changed, expected_version=1)
        if backend.name != "sqlite":  # SQLite serialises all access: a reader would wait for this writer
            assert await backend.queries().get(pending.id) is None
            assert await backend.queries().get(stored.id) == stored
            assert await backend.queries().list(UserQuery(limit=10)) == [stored]
        # leaving without commit: nothing of it may ever be seen

    assert await backend.queries().list(UserQuery(limit=10)) == [stored]


async def test_changes_and_removals_show_once_committed(backend: Backend) -> None:
    user = a_user()
    async with backend.unit_of_work() as uow:
        await uow.users.add(user)
        await uow.commit()
    changed = user.change(UserChanges(is_active=False))
    async with backend.unit_of_work() as uow:
        await uow.users.update(changed, expected_version=1)
        await uow.commit()
    assert await backend.queries().get(user.id) == changed

    async with backend.unit_of_work() as uow:
        await uow.users.remove(user.id, expected_version=2)
        await uow.commit()
    assert await backend.queries().get(user.id) is None


async def test_pages_and_filters_answer_like_the_repository(backend: Backend) -> None:
    people = [
        a_user("Kim", "kim@example.com"),
        a_user("kimberly", "kimberly@example.com"),
        a_user("leo", "leo@example.com", is_active=False),
        *(a_user() for _ in range(6)),
    ]
    async with backend.unit_of_work() as uow:
        for person in people:
            await uow.users.add(person)
        await uow.commit()

    questions = [
        UserQuery(limit=4),
        UserQuery(limit=4, after=people[3].id),
        UserQuery(limit=100, after=people[-1].id),
        UserQuery(limit=10, username="KIM"),
        UserQuery(limit=10, email="leo@example.com"),
        UserQuery(limit=10, is_active=False),
        UserQuery(limit=10, is_active=True, username="leo"),
    ]
    for question in questions:
        async with backend.unit_of_work() as uow:
            expected = await uow.users.list(question)
        assert await backend.queries().list(question) == expected, question
    assert await backend.queries().list(UserQuery(limit=4)) == people[:4]
