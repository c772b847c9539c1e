"""What can go wrong in the domain, in the domain's own words (no HTTP status, no SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class InvalidUser(DomainError):
    """One or more fields break the user's rules; every broken rule is listed, not only the first."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class UserNotFound(DomainError):
    def __init__(self, user_id: UUID) -> None:
        super().__init__(f"no user with id {user_id}")
        self.user_id = user_id


class UsernameTaken(DomainError):
    def __init__(self, username: str) -> None:
        super().__init__(f"the username {username!r} is already taken")
        self.username = username


class EmailTaken(DomainError):
    def __init__(self, email: str) -> None:
        super().__init__(f"the email {email!r} is already registered")
        self.email = email


class VersionConflict(DomainError):
    """The stored user changed since it was read: the write was based on a stale version."""

    def __init__(self, user_id: UUID) -> None:
        super().__init__(f"user {user_id} was changed by someone else")
        self.user_id = user_id
