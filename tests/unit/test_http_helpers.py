"""Helpers of the HTTP entrypoint: page cursors and the conditional headers (ETag, If-Match, If-None-Match)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.exceptions import RequestValidationError

from domain.identity import new_user_id
from entrypoints.http.cursors import InvalidCursor, decode_cursor, encode_cursor
from entrypoints.http.idempotency import fingerprint
from entrypoints.http.preconditions import etag, if_none_match_hits, versions_in_if_match

_EDGE_IDS = [
    uuid.UUID(int=0),
    uuid.UUID(int=1),
    uuid.UUID(int=(1 << 128) - 1),
    uuid.UUID("00000000-0000-0000-0000-0000000000ff"),
    uuid.UUID("ffffffff-ffff-ffff-ffff-ffffffffff00"),
]

_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

# --- cursors ---------------------------------------------------------------------------------------------------


def _assert_round_trip(user_id: uuid.UUID) -> str:
    cursor = encode_cursor(user_id)
    assert len(cursor) == 22
    assert set(cursor) <= _ALPHABET
    assert cursor[-1] in "AQgw"
    assert decode_cursor(cursor) == user_id
    return cursor


@pytest.mark.parametrize("user_id", _EDGE_IDS, ids=str)
def test_a_cursor_decodes_to_the_id_it_encodes(user_id: uuid.UUID) -> None:
    _assert_round_trip(user_id)


def test_many_cursors_round_trip_and_differ() -> None:
    ids = [uuid.uuid4() for _ in range(2_000)] + [new_user_id() for _ in range(500)]

    cursors = {_assert_round_trip(user_id) for user_id in ids}

    assert len(cursors) == len(set(ids))


_VALID = encode_cursor(uuid.UUID("0190f0e4-8c3a-7a3b-9c5e-1234567890ab"))


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("zzz", id="short"),
        pytest.param(_VALID[:21], id="21-chars"),
        pytest.param(_VALID + "A", id="23-chars"),
        pytest.param(_VALID[:21] + "B", id="last-char-with-stray-bits"),
        pytest.param(_VALID[:21] + "x", id="last-char-lower-with-stray-bits"),
        pytest.param(_VALID[:21] + "=", id="padding-inside-22"),
        pytest.param(_VALID + "==", id="padded"),
        pytest.param("é" + _VALID[1:], id="non-ascii"),
        pytest.param("\uff21" * 21 + "A", id="full-width-letters"),
        pytest.param(_VALID[:10] + "+" + _VALID[11:], id="standard-base64-plus"),
        pytest.param(_VALID[:10] + "/" + _VALID[11:], id="standard-base64-slash"),
        pytest.param(_VALID + "\n", id="trailing-newline"),
        pytest.param(" " + _VALID[1:], id="space"),
    ],
)
def test_a_cursor_this_service_never_issued_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_the_cursor_the_bad_ones_are_made_from_is_good() -> None:
    assert decode_cursor(_VALID) == uuid.UUID("0190f0e4-8c3a-7a3b-9c5e-1234567890ab")


def test_only_the_four_possible_last_digits_are_accepted() -> None:
    accepted = set()
    for last in sorted(_ALPHABET):
        try:
            decode_cursor(_VALID[:21] + last)
        except InvalidCursor:
            continue
        accepted.add(last)

    assert accepted == set("AQgw")


def test_an_invalid_cursor_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="zzz"):
        decode_cursor("zzz")


# --- ETag and conditional headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "tag"), [(1, '"1"'), (3, '"3"'), (42, '"42"')])
def test_an_etag_is_the_quoted_version(version: int, tag: str) -> None:
    assert etag(version) == tag


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("*", None, id="star"),
        pytest.param(" * ", None, id="star-with-spaces"),
        pytest.param('"3"', frozenset({3}), id="one"),
        pytest.param('"3", "5"', frozenset({3, 5}), id="list"),
        pytest.param('"3","5" ,  "8"', frozenset({3, 5, 8}), id="list-odd-spacing"),
        pytest.param('"abc"', frozenset(), id="quoted-non-number"),
        pytest.param('""', frozenset(), id="empty-tag"),
        pytest.param('"-3"', frozenset(), id="negative"),
    ],
)
def test_if_match_names_the_versions_it_accepts(header: str | None, versions: frozenset[int] | None) -> None:
    assert versions_in_if_match(header) == versions


@pytest.mark.parametrize("header", ['W/"3"', 'W/"3", "5"', "abc", "3", '"', '"\u0663"', "", '"3",', '"3" "5"'])
def test_an_if_match_that_is_not_strong_entity_tags_is_a_422_naming_the_header(header: str) -> None:
    with pytest.raises(RequestValidationError) as raised:
        versions_in_if_match(header)
    (error,) = raised.value.errors()
    assert error["loc"] == ("header", "If-Match")
    assert '"3"' in error["msg"]


def test_if_match_with_a_zero_padded_tag_matches_no_version() -> None:
    assert versions_in_if_match('"03"') == frozenset()


def test_if_match_with_a_huge_number_matches_no_version() -> None:
    assert versions_in_if_match('"' + "1" * 5000 + '"') == frozenset()


@pytest.mark.parametrize(
    ("header", "version", "hit"),
    [
        pytest.param('"3"', 3, True, id="exact"),
        pytest.param('W/"3"', 3, True, id="weak"),
        pytest.param('"1", "3"', 3, True, id="in-list"),
        pytest.param('"1", W/"3"', 3, True, id="weak-in-list"),
        pytest.param("*", 3, True, id="star"),
        pytest.param(" * ", 3, True, id="star-with-spaces"),
        pytest.param('"4"', 3, False, id="other-version"),
        pytest.param('"1", "2"', 3, False, id="list-without"),
        pytest.param('"33"', 3, False, id="prefix-is-no-match"),
        pytest.param(None, 3, False, id="absent"),
    ],
)
def test_if_none_match_hits_only_the_named_versions(header: str | None, version: int, hit: bool) -> None:
    assert if_none_match_hits(header, version) is hit


@pytest.mark.parametrize("header", ["3", "", "abc"])
def test_an_if_none_match_that_is_not_entity_tags_is_a_422_naming_the_header(header: str) -> None:
    with pytest.raises(RequestValidationError) as raised:
        if_none_match_hits(header, 3)
    assert raised.value.errors()[0]["loc"] == ("header", "If-None-Match")


# --- request fingerprints (Idempotency-Key) --------------------------------------------------------------------


def test_a_fingerprint_ignores_the_order_of_keys() -> None:
    assert fingerprint({"body": {"a": 1, "b": [1, 2]}, "if_match": None}) == fingerprint(
        {"if_match": None, "body": {"b": [1, 2], "a": 1}}
    )


def test_a_fingerprint_tells_values_types_and_absent_fields_apart() -> None:
    documents: list[object] = [{}, {"a": 1}, {"a": "1"}, {"a": None}, {"a": [1]}, {"b": 1}, {"a": "Zoë"}, {"a": "Zoe"}]

    prints = [fingerprint(document) for document in documents]

    assert len(set(prints)) == len(documents)
    assert all(len(value) == 64 and set(value) <= set("0123456789abcdef") for value in prints)
