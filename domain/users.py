"""The User entity and the rules every user obeys, whoever creates or changes it."""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final, Literal
from uuid import UUID

from email_validator import EmailNotValidError, validate_email

from domain.errors import FieldError, InvalidUser
from domain.identity import new_user_id

USERNAME_MIN_LENGTH: Final = 3
USERNAME_MAX_LENGTH: Final = 32
# ASCII only on purpose: no look-alike letters from other scripts can shadow an existing username.
USERNAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$"
FULL_NAME_MAX_LENGTH: Final = 200

_USERNAME_RE: Final = re.compile(USERNAME_PATTERN)
# "ASCII" spelled out: a client refused for a Cyrillic or fullwidth letter must see why its letter is none.
_USERNAME_RULE: Final = (
    f"must be {USERNAME_MIN_LENGTH}-{USERNAME_MAX_LENGTH} characters of ASCII letters, digits, '_', '.' or '-', "
    "starting with a letter or digit"
)


class _Keep(enum.Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP
"""Marks a field that a change leaves as it is (as opposed to ``None``, which clears ``full_name``)."""


def username_key(username: str) -> str:
    """The form in which usernames are compared: ``Alice`` and ``alice`` are the same user."""
    return username.lower()


def is_valid_username(value: str) -> bool:
    return _USERNAME_RE.fullmatch(value) is not None


def canonical_email(value: str) -> str | None:
    """The stored form of an address (normalised, lower-cased), or ``None`` if it is no valid address."""
    errors: list[FieldError] = []
    email = _checked_email(value, errors)
    return None if errors else email


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A partial change of a user (the merge-patch of the API): fields left at ``KEEP`` do not change."""

    username: str | Literal[_Keep.KEEP] = KEEP
    email: str | Literal[_Keep.KEEP] = KEEP
    full_name: str | Literal[_Keep.KEEP] | None = KEEP
    is_active: bool | Literal[_Keep.KEEP] = KEEP


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A registered user. Immutable: a change makes a new value with the next ``version``."""

    id: UUID
    username: str
    email: str
    full_name: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def register(
        cls,
        *,
        username: object,
        email: object,
        full_name: object = None,
        is_active: object = True,
        now: datetime | None = None,
    ) -> User:
        """A new user at version 1; raises ``InvalidUser`` listing every field that breaks a rule."""
        errors: list[FieldError] = []
        checked_username = _checked_username(username, errors)
        checked_email = _checked_email(email, errors)
        checked_full_name = _checked_full_name(full_name, errors)
        checked_is_active = _checked_is_active(is_active, errors)
        if errors:
            raise InvalidUser(errors)
        created = now or _utcnow()
        return cls(
            id=new_user_id(),
            username=checked_username,
            email=checked_email,
            full_name=checked_full_name,
            is_active=checked_is_active,
            created_at=created,
            updated_at=created,
            version=1,
        )

    def change(self, changes: UserChanges, *, now: datetime | None = None) -> User:
        """This user with ``changes`` applied and the version bumped; itself if nothing actually changes."""
        errors: list[FieldError] = []
        fields: dict[str, object] = {}
        if changes.username is not KEEP:
            fields["username"] = _checked_username(changes.username, errors)
        if changes.email is not KEEP:
            fields["email"] = _checked_email(changes.email, errors)
        if changes.full_name is not KEEP:
            fields["full_name"] = _checked_full_name(changes.full_name, errors)
        if changes.is_active is not KEEP:
            fields["is_active"] = _checked_is_active(changes.is_active, errors)
        if errors:
            raise InvalidUser(errors)
        if all(getattr(self, name) == value for name, value in fields.items()):
            return self
        return replace(self, **fields, updated_at=now or _utcnow(), version=self.version + 1)  # type: ignore[arg-type]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _checked_username(value: object, errors: list[FieldError]) -> str:
    if not isinstance(value, str) or not is_valid_username(value):
        errors.append(FieldError("username", _USERNAME_RULE))
        return ""
    return value


def _checked_email(value: object, errors: list[FieldError]) -> str:
    if not isinstance(value, str):
        errors.append(FieldError("email", "must be a string"))
        return ""
    try:
        # No DNS look-up: registration must not depend on the network, and tests must not either.
        normalized = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as error:
        errors.append(FieldError("email", f"is not a valid email address: {error}"))
        return ""
    return normalized.lower()


def _checked_full_name(value: object, errors: list[FieldError]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError("full_name", "must be a string or null"))
        return None
    if len(value) > FULL_NAME_MAX_LENGTH:
        errors.append(FieldError("full_name", f"must be at most {FULL_NAME_MAX_LENGTH} characters"))
        return None
    # Control characters (NUL above all, which PostgreSQL refuses) have no place in a person's name.
    if any(unicodedata.category(char) in {"Cc", "Cs"} for char in value):
        errors.append(FieldError("full_name", "must not contain control characters"))
        return None
    return value


def _checked_is_active(value: object, errors: list[FieldError]) -> bool:
    if not isinstance(value, bool):
        errors.append(FieldError("is_active", "must be true or false"))
        return True
    return value
