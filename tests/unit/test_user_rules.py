"""The User entity's rules: what a valid user is, and how a change of one behaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidUser
from domain.users import (
    FULL_NAME_MAX_LENGTH,
    KEEP,
    User,
    UserChanges,
    canonical_email,
    is_valid_username,
    username_key,
)


def _fields(error: pytest.ExceptionInfo[InvalidUser]) -> list[str]:
    return [field_error.field for field_error in error.value.errors]


def _register(**overrides: object) -> User:
    fields: dict[str, object] = {"username": "alice", "email": "alice@example.com"}
    fields.update(overrides)
    return User.register(**fields)  # type: ignore[arg-type]


@pytest.fixture
def alice() -> User:
    return User.register(username="Alice", email="alice@example.com", full_name="Alice Liddell")


# --- registration ----------------------------------------------------------------------------------------------


def test_a_registered_user_starts_at_version_1_with_equal_utc_timestamps() -> None:
    before = datetime.now(UTC)
    user = User.register(username="Alice_1", email="Alice@Example.COM", full_name="Alice L.", is_active=False)
    after = datetime.now(UTC)

    assert user.version == 1
    assert user.username == "Alice_1"
    assert user.email == "alice@example.com"
    assert user.full_name == "Alice L."
    assert user.is_active is False
    assert user.created_at == user.updated_at
    assert user.created_at.tzinfo is not None
    assert user.created_at.utcoffset() == timedelta(0)
    assert before <= user.created_at <= after


def test_registration_defaults_to_active_and_no_full_name() -> None:
    user = User.register(username="bob", email="bob@example.com")

    assert user.is_active is True
    assert user.full_name is None


def test_registration_uses_the_given_time() -> None:
    moment = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)

    user = User.register(username="bob", email="bob@example.com", now=moment)

    assert user.created_at == moment
    assert user.updated_at == moment


def test_every_registration_gets_a_new_id() -> None:
    first = User.register(username="bob", email="bob@example.com")
    second = User.register(username="bob", email="bob@example.com")

    assert first.id != second.id


def test_a_user_is_immutable(alice: User) -> None:
    with pytest.raises(AttributeError):
        alice.username = "mallory"  # type: ignore[misc]


# --- username --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "username",
    [
        pytest.param("abc", id="3-chars"),
        pytest.param("a" * 32, id="32-chars"),
        pytest.param("a.b-c_d", id="punctuation-inside"),
        pytest.param("9lives", id="leading-digit"),
        pytest.param("MiXeD.Case", id="mixed-case"),
    ],
)
def test_a_valid_username_is_accepted_and_stored_as_given(username: str) -> None:
    assert is_valid_username(username)
    assert _register(username=username).username == username


@pytest.mark.parametrize(
    "username",
    [
        pytest.param("ab", id="2-chars"),
        pytest.param("a" * 33, id="33-chars"),
        pytest.param("", id="empty"),
        pytest.param("_alice", id="leading-underscore"),
        pytest.param(".alice", id="leading-dot"),
        pytest.param("-alice", id="leading-dash"),
        pytest.param("al ice", id="space"),
        pytest.param("alice\n", id="trailing-newline"),
        pytest.param("\u0430lice", id="cyrillic-a-look-alike"),
        pytest.param("ali\x00ce", id="nul"),
        pytest.param("al@ce", id="at-sign"),
    ],
)
def test_an_invalid_username_string_is_refused(username: str) -> None:
    assert not is_valid_username(username)
    with pytest.raises(InvalidUser) as error:
        _register(username=username)
    assert _fields(error) == ["username"]


@pytest.mark.parametrize("username", [123, None, b"alice", ["alice"]], ids=["int", "none", "bytes", "list"])
def test_a_username_that_is_no_string_is_refused(username: object) -> None:
    with pytest.raises(InvalidUser) as error:
        _register(username=username)
    assert _fields(error) == ["username"]


def test_usernames_compare_case_insensitively() -> None:
    assert username_key("Alice") == username_key("ALICE") == username_key("alice") == "alice"
    assert username_key("alice") != username_key("alice2")


# --- email -----------------------------------------------------------------------------------------------------


def test_an_email_is_stored_in_lower_case() -> None:
    user = _register(email="Bob.Smith@Example.COM")

    assert user.email == "bob.smith@example.com"
    assert canonical_email("Bob.Smith@Example.COM") == "bob.smith@example.com"


@pytest.mark.parametrize(
    "email",
    [
        pytest.param("not-an-email", id="no-at"),
        pytest.param("a@b", id="no-dot-in-domain"),
        pytest.param("@example.com", id="no-local-part"),
        pytest.param("alice@", id="no-domain"),
        pytest.param("al ice@example.com", id="space"),
        pytest.param("alice@@example.com", id="double-at"),
        pytest.param("", id="empty"),
        pytest.param("ali\x00ce@example.com", id="nul"),
    ],
)
def test_an_invalid_email_is_refused(email: str) -> None:
    assert canonical_email(email) is None
    with pytest.raises(InvalidUser) as error:
        _register(email=email)
    assert _fields(error) == ["email"]


@pytest.mark.parametrize("email", [42, None, b"a@example.com"], ids=["int", "none", "bytes"])
def test_an_email_that_is_no_string_is_refused(email: object) -> None:
    with pytest.raises(InvalidUser) as error:
        _register(email=email)
    assert _fields(error) == ["email"]


# --- full name -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "full_name",
    [
        pytest.param(None, id="none"),
        pytest.param("x" * FULL_NAME_MAX_LENGTH, id="200-chars"),
        pytest.param("Zoë Ångström 山田", id="unicode"),
    ],
)
def test_a_valid_full_name_is_accepted(full_name: str | None) -> None:
    assert _register(full_name=full_name).full_name == full_name


def test_the_full_name_limit_is_200() -> None:
    assert FULL_NAME_MAX_LENGTH == 200


@pytest.mark.parametrize(
    "full_name",
    [
        pytest.param("x" * (FULL_NAME_MAX_LENGTH + 1), id="201-chars"),
        pytest.param("Ali\x00ce", id="nul"),
        pytest.param("Ali\x07ce", id="bell"),
        pytest.param("Alice\n", id="newline"),
        pytest.param(123, id="int"),
        pytest.param(["Alice"], id="list"),
    ],
)
def test_an_invalid_full_name_is_refused(full_name: object) -> None:
    with pytest.raises(InvalidUser) as error:
        _register(full_name=full_name)
    assert _fields(error) == ["full_name"]


# --- is_active -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("is_active", [True, False])
def test_is_active_accepts_a_bool(is_active: bool) -> None:
    assert _register(is_active=is_active).is_active is is_active


@pytest.mark.parametrize("is_active", [1, 0, "true", None], ids=["one", "zero", "string", "none"])
def test_is_active_refuses_anything_but_a_bool(is_active: object) -> None:
    with pytest.raises(InvalidUser) as error:
        _register(is_active=is_active)
    assert _fields(error) == ["is_active"]


# --- several errors --------------------------------------------------------------------------------------------


def test_every_broken_rule_is_reported_at_once() -> None:
    with pytest.raises(InvalidUser) as error:
        User.register(username="x", email="nope", full_name="\x00", is_active="yes")

    assert _fields(error) == ["username", "email", "full_name", "is_active"]
    assert all(field_error.message for field_error in error.value.errors)
    for field in ("username", "email", "full_name", "is_active"):
        assert field in str(error.value)


def test_only_the_broken_fields_are_reported() -> None:
    with pytest.raises(InvalidUser) as error:
        User.register(username="ok_name", email="bad", full_name="Fine Name", is_active=1)

    assert _fields(error) == ["email", "is_active"]


# --- change ----------------------------------------------------------------------------------------------------


def test_a_change_bumps_the_version_and_updated_at_only(alice: User) -> None:
    later = alice.updated_at + timedelta(minutes=5)

    changed = alice.change(UserChanges(full_name="Alice Pleasance Liddell"), now=later)

    assert changed.full_name == "Alice Pleasance Liddell"
    assert changed.version == alice.version + 1
    assert changed.updated_at == later
    assert changed.created_at == alice.created_at
    assert changed.id == alice.id
    assert (changed.username, changed.email, changed.is_active) == (alice.username, alice.email, alice.is_active)
    assert alice.version == 1  # the original is untouched
    assert alice.full_name == "Alice Liddell"


def test_a_change_without_a_time_uses_now(alice: User) -> None:
    changed = alice.change(UserChanges(is_active=False))

    assert changed.updated_at >= alice.updated_at
    assert changed.updated_at.utcoffset() == timedelta(0)
    assert changed.created_at == alice.created_at


def test_each_change_adds_one_to_the_version(alice: User) -> None:
    once = alice.change(UserChanges(is_active=False))
    twice = once.change(UserChanges(is_active=True))

    assert (once.version, twice.version) == (2, 3)


def test_keep_leaves_every_field_alone(alice: User) -> None:
    changed = alice.change(UserChanges(username=KEEP, email=KEEP, full_name=KEEP, is_active=False))

    assert changed.username == alice.username
    assert changed.email == alice.email
    assert changed.full_name == alice.full_name
    assert changed.is_active is False


def test_all_fields_can_change_at_once(alice: User) -> None:
    changed = alice.change(
        UserChanges(username="alice2", email="New@Example.com", full_name="New Name", is_active=False)
    )

    assert (changed.username, changed.email, changed.full_name, changed.is_active) == (
        "alice2",
        "new@example.com",
        "New Name",
        False,
    )
    assert changed.version == 2


def test_full_name_none_clears_it(alice: User) -> None:
    changed = alice.change(UserChanges(full_name=None))

    assert changed.full_name is None
    assert changed.version == 2


def test_a_case_only_rename_is_a_change(alice: User) -> None:
    changed = alice.change(UserChanges(username="ALICE"))

    assert changed.username == "ALICE"
    assert changed.version == 2


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(UserChanges(), id="nothing"),
        pytest.param(UserChanges(username="Alice"), id="same-username"),
        pytest.param(UserChanges(email="ALICE@example.com"), id="same-email-other-spelling"),
        pytest.param(UserChanges(full_name="Alice Liddell"), id="same-full-name"),
        pytest.param(UserChanges(is_active=True), id="same-is-active"),
        pytest.param(
            UserChanges(username="Alice", email="alice@example.com", full_name="Alice Liddell", is_active=True),
            id="all-same",
        ),
    ],
)
def test_a_change_that_changes_nothing_returns_the_same_user(alice: User, changes: UserChanges) -> None:
    result = alice.change(changes, now=alice.updated_at + timedelta(days=1))

    assert result is alice
    assert result.version == 1
    assert result.updated_at == alice.updated_at


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param(UserChanges(username="x"), "username", id="username-too-short"),
        pytest.param(UserChanges(username="\u0430lice"), "username", id="username-cyrillic"),
        pytest.param(UserChanges(email="nope"), "email", id="email"),
        pytest.param(UserChanges(full_name="x" * 201), "full_name", id="full-name-too-long"),
        pytest.param(UserChanges(full_name="a\x07b"), "full_name", id="full-name-control"),
        pytest.param(UserChanges(is_active=1), "is_active", id="is-active-int"),  # type: ignore[arg-type]
    ],
)
def test_an_invalid_change_is_refused_and_names_the_field(alice: User, changes: UserChanges, field: str) -> None:
    with pytest.raises(InvalidUser) as error:
        alice.change(changes)

    assert _fields(error) == [field]


def test_an_invalid_change_reports_every_broken_field(alice: User) -> None:
    with pytest.raises(InvalidUser) as error:
        alice.change(UserChanges(username="-bad", email="bad", is_active="no"))  # type: ignore[arg-type]

    assert _fields(error) == ["username", "email", "is_active"]
