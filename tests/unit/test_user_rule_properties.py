"""The user rules as properties over generated values (Hypothesis): what a valid username is, how emails
are made canonical, and how a change (the API's merge-patch) behaves."""

from __future__ import annotations

import string
import unicodedata
from dataclasses import fields
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidUser
from domain.users import (
    FULL_NAME_MAX_LENGTH,
    KEEP,
    USERNAME_MAX_LENGTH,
    USERNAME_MIN_LENGTH,
    USERNAME_PATTERN,
    User,
    UserChanges,
    canonical_email,
    is_valid_username,
    username_key,
)
from tests.look_alikes import LOOK_ALIKES, fullwidth

# The rule as the README states it, written out independently of the domain's regular expression.
_ALNUM = frozenset(string.ascii_letters + string.digits)
_USERNAME_CHARACTERS = _ALNUM | frozenset("_.-")


def _follows_the_rule(name: str) -> bool:
    return (
        USERNAME_MIN_LENGTH <= len(name) <= USERNAME_MAX_LENGTH
        and name[0] in _ALNUM
        and all(char in _USERNAME_CHARACTERS for char in name)
    )


valid_usernames = st.from_regex(USERNAME_PATTERN, fullmatch=True)
# Mostly the username alphabet, with a sprinkling of anything else (other scripts, controls, NUL, newlines).
near_usernames = st.text(
    st.sampled_from(sorted(_USERNAME_CHARACTERS)) | st.characters(codec="utf-8"), max_size=USERNAME_MAX_LENGTH + 3
)
full_names = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=FULL_NAME_MAX_LENGTH)
valid_full_names = st.none() | full_names
ascii_emails = st.emails()
# Internationalised addresses too: letters and digits of any script before the @, a few real-world domains.
unicode_emails = st.builds(
    "{}@{}".format,
    st.text(st.characters(categories=["L", "N"]) | st.sampled_from("._-+"), min_size=1, max_size=30),
    st.sampled_from(
        ["example.com", "EXAMPLE.com", f"{fullwidth('example')}.com", "例子.广告", "bücher.de", "xn--bcher-kva.de"]
    ),
)
any_emails = ascii_emails | unicode_emails


# --- usernames -------------------------------------------------------------------------------------------------


@given(valid_usernames)
def test_every_valid_username_is_accepted_and_kept_as_given(name: str) -> None:
    assert is_valid_username(name)
    assert User.register(username=name, email="someone@example.com").username == name


@given(st.one_of(near_usernames, st.text(max_size=40)))
def test_a_username_is_valid_exactly_when_it_follows_the_published_rule(name: str) -> None:
    assert is_valid_username(name) == _follows_the_rule(name)


@given(near_usernames.filter(lambda name: not _follows_the_rule(name)))
def test_every_invalid_username_is_refused_naming_the_username_only(name: str) -> None:
    with pytest.raises(InvalidUser) as error:
        User.register(username=name, email="someone@example.com")
    assert [field_error.field for field_error in error.value.errors] == ["username"]


@given(valid_usernames, st.data())
def test_usernames_are_keyed_whatever_their_case(name: str, data: st.DataObject) -> None:
    recased = "".join(data.draw(st.sampled_from([char.lower(), char.upper()])) for char in name)
    assert username_key(recased) == username_key(name)
    assert is_valid_username(recased)
    # The key is a valid username itself, and a fixed point: nothing is lost or changed but the case.
    assert is_valid_username(username_key(name))
    assert username_key(username_key(name)) == username_key(name)


@given(valid_usernames, valid_usernames)
def test_two_usernames_share_a_key_only_if_they_differ_in_case_alone(first: str, second: str) -> None:
    assert (username_key(first) == username_key(second)) == (first.casefold() == second.casefold())


@given(valid_usernames.filter(lambda name: any(char in LOOK_ALIKES for char in name)), st.data())
def test_a_look_alike_of_a_valid_username_is_refused_with_a_clear_message(name: str, data: st.DataObject) -> None:
    position = data.draw(st.sampled_from([index for index, char in enumerate(name) if char in LOOK_ALIKES]))
    look_alike = name[:position] + LOOK_ALIKES[name[position]] + name[position + 1 :]

    assert not is_valid_username(look_alike)
    with pytest.raises(InvalidUser) as error:
        User.register(username=look_alike, email="someone@example.com")
    [field_error] = error.value.errors
    assert field_error.field == "username"
    assert "ASCII" in field_error.message


# --- emails ----------------------------------------------------------------------------------------------------


@given(any_emails)
def test_the_canonical_email_is_a_fixed_point(email: str) -> None:
    canonical = canonical_email(email)
    if canonical is not None:
        assert canonical_email(canonical) == canonical


@given(any_emails)
def test_the_canonical_email_is_lower_case_nfc(email: str) -> None:
    canonical = canonical_email(email)
    if canonical is not None:
        assert canonical == canonical.lower()
        assert unicodedata.is_normalized("NFC", canonical)


@given(ascii_emails, st.data())
def test_an_ascii_email_is_the_same_address_in_any_case(email: str, data: st.DataObject) -> None:
    recased = "".join(data.draw(st.sampled_from([char.lower(), char.upper()])) for char in email)
    assert canonical_email(recased) == canonical_email(email)


@given(ascii_emails.filter(lambda email: "xn--" not in email.lower()))
def test_a_valid_ascii_email_is_stored_lower_cased(email: str) -> None:
    # (An IDNA "xn--" domain is stored in its Unicode form, as email-validator gives it.)
    canonical = canonical_email(email)
    if canonical is not None:  # st.emails() may produce addresses email-validator refuses (reserved names)
        assert canonical == email.lower()


@given(st.one_of(any_emails, st.text(max_size=60)))
def test_registration_stores_the_canonical_email_or_refuses_it(email: str) -> None:
    canonical = canonical_email(email)
    if canonical is None:
        with pytest.raises(InvalidUser) as error:
            User.register(username="alice", email=email)
        assert [field_error.field for field_error in error.value.errors] == ["email"]
    else:
        assert User.register(username="alice", email=email).email == canonical


@given(unicode_emails)
def test_a_decomposed_spelling_is_the_same_address(email: str) -> None:
    assert canonical_email(unicodedata.normalize("NFD", email)) == canonical_email(email)


# --- changes (the merge-patch of PATCH) --------------------------------------------------------------------------


valid_emails = any_emails.filter(lambda email: canonical_email(email) is not None)
users = st.builds(
    User.register,
    username=valid_usernames,
    email=valid_emails,
    full_name=valid_full_names,
    is_active=st.booleans(),
)


def _keep_or(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.just(KEEP) | values


valid_changes = st.builds(
    UserChanges,
    username=_keep_or(valid_usernames),
    email=_keep_or(valid_emails),
    full_name=_keep_or(valid_full_names),
    is_active=_keep_or(st.booleans()),
)
_FIELDS = [field.name for field in fields(UserChanges)]


def _expected(user: User, changes: UserChanges) -> dict[str, object]:
    """Each field after the change: the given value (an email in its canonical form), else the current one."""
    expected: dict[str, object] = {}
    for name in _FIELDS:
        given_value = getattr(changes, name)
        if given_value is KEEP:
            expected[name] = getattr(user, name)
        elif name == "email":
            expected[name] = canonical_email(given_value)
        else:
            expected[name] = given_value
    return expected


@given(users, valid_changes)
def test_a_change_sets_the_given_fields_and_keeps_the_absent_ones(user: User, changes: UserChanges) -> None:
    changed = user.change(changes)

    assert {name: getattr(changed, name) for name in _FIELDS} == _expected(user, changes)
    assert (changed.id, changed.created_at) == (user.id, user.created_at)


@given(users, valid_changes)
def test_the_version_grows_by_one_exactly_when_something_changes(user: User, changes: UserChanges) -> None:
    later = user.updated_at + timedelta(seconds=1)

    changed = user.change(changes, now=later)

    if _expected(user, changes) == {name: getattr(user, name) for name in _FIELDS}:
        assert changed is user
    else:
        assert changed.version == user.version + 1
        assert changed.updated_at == later


@given(users, valid_changes)
def test_applying_a_change_twice_is_applying_it_once(user: User, changes: UserChanges) -> None:
    once = user.change(changes)
    assert once.change(changes) is once


@given(users, full_names)
def test_null_clears_the_full_name_and_absent_leaves_it(user: User, full_name: str) -> None:
    named = user.change(UserChanges(full_name=full_name))
    assert named.change(UserChanges()).full_name == full_name
    assert named.change(UserChanges(full_name=None)).full_name is None


@given(users, st.data())
def test_a_change_with_an_invalid_field_is_refused_naming_it(user: User, data: st.DataObject) -> None:
    invalid = {
        "username": near_usernames.filter(lambda name: not _follows_the_rule(name)),
        "full_name": st.text(min_size=FULL_NAME_MAX_LENGTH + 1, max_size=FULL_NAME_MAX_LENGTH + 5)
        | st.text().map(lambda text: text + "\x00"),
        "is_active": st.sampled_from([0, 1, "true", None]),
    }
    broken = data.draw(st.lists(st.sampled_from(sorted(invalid)), min_size=1, unique=True))
    drawn: dict[str, Any] = {name: data.draw(invalid[name]) for name in broken}
    changes = UserChanges(**drawn)

    with pytest.raises(InvalidUser) as error:
        user.change(changes)
    assert [field_error.field for field_error in error.value.errors] == [name for name in _FIELDS if name in broken]
