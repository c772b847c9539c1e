"""Small builders of valid users for tests."""

from __future__ import annotations

import itertools

from domain.users import User

_numbers = itertools.count(1)


def a_user(
    username: str | None = None, email: str | None = None, *, full_name: str | None = None, is_active: bool = True
) -> User:
    n = next(_numbers)
    return User.register(
        username=username if username is not None else f"user{n}",
        email=email if email is not None else f"user{n}@example.com",
        full_name=full_name,
        is_active=is_active,
    )
