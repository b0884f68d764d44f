"""Session parameter rules without a database (docs/reference.md#create, #update)."""

from __future__ import annotations

import pytest

from vts_masking.domain import errors
from vts_masking.domain.session_params import parse_create, parse_update

A, B = "+14155550001", "+14155550002"


def test_defaults_are_applied() -> None:
    p = parse_create({"first_party": A, "second_party": B})
    assert (p.session_expiry, p.call_time_limit, p.ring_timeout) == (3600, 3600, 120)
    assert p.record is False and p.record_file_format == "mp3" and p.geomatch is True


def test_numbers_are_normalised_to_e164() -> None:
    p = parse_create({"first_party": "1 415-555-0001", "second_party": "+1 (415) 555 0002"})
    assert (p.first_party, p.second_party) == (A, B)


@pytest.mark.parametrize("value", ["true", "TRUE", "True", True, 1, "1"])
def test_booleans_accept_strings_any_case(value: object) -> None:
    assert parse_create({"first_party": A, "second_party": B, "record": value}).record is True


@pytest.mark.parametrize("value", ["3600", 3600, 3600.0, " 3600 "])
def test_integers_accept_digit_strings(value: object) -> None:
    assert (
        parse_create(
            {"first_party": A, "second_party": B, "call_time_limit": value}
        ).call_time_limit
        == 3600
    )


@pytest.mark.parametrize("value", [True, "1e3", 3.5, "12a", [1]])
def test_non_integers_are_refused(value: object) -> None:
    with pytest.raises(errors.InvalidParameter, match="ring_timeout must be an integer"):
        parse_create({"first_party": A, "second_party": B, "ring_timeout": value})


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("session_expiry", 1, 2_592_000),
        ("call_time_limit", 1, 14_400),
        ("ring_timeout", 1, 300),
        ("virtual_number_cooloff_period", 0, 3600),
        ("pin_retry", 0, 5),
        ("pin_retry_wait", 5, 10),
        ("generate_pin_length", 4, 15),
    ],
)
def test_bounds_are_inclusive(name: str, low: int, high: int) -> None:
    for ok in (low or 1, high):
        if name == "session_expiry" and ok == 0:
            continue
        parse_create({"first_party": A, "second_party": B, name: ok})
    for bad in (low - 1, high + 1):
        if name == "session_expiry" and bad == 0:
            continue  # 0 means "default" on create
        with pytest.raises(errors.InvalidParameter, match=f"{name} is outside the allowed range"):
            parse_create({"first_party": A, "second_party": B, name: bad})


def test_session_expiry_zero_means_default() -> None:
    assert (
        parse_create({"first_party": A, "second_party": B, "session_expiry": 0}).session_expiry
        == 3600
    )


def test_single_party_session_needs_one_party() -> None:
    p = parse_create({"second_party": B, "create_session_with_single_party": "true"})
    assert p.is_single_party and p.geo_party == B
    with pytest.raises(errors.InvalidParameter, match="first_party must be present"):
        parse_create({"create_session_with_single_party": True})


def test_parties_must_differ() -> None:
    with pytest.raises(errors.InvalidParameter, match="second_party must be different"):
        parse_create({"first_party": A, "second_party": "1-415-555-0001"})


def test_pin_authentication_requires_prompt_and_pins() -> None:
    base = {"first_party": A, "second_party": B, "is_pin_authentication_required": True}
    with pytest.raises(errors.InvalidParameter, match="pin_prompt_play must be present"):
        parse_create({**base, "first_party_pin": "1234", "second_party_pin": "5678"})
    with pytest.raises(errors.InvalidParameter, match="second_party_pin must be present"):
        parse_create({**base, "first_party_pin": "1234", "pin_prompt_play": "http://e.com/p"})
    generated = parse_create({**base, "generate_pin": True, "pin_prompt_play": "http://e.com/p"})
    assert generated.generate_pin


def test_unknown_keys_are_kept_aside() -> None:
    p = parse_create({"first_party": A, "second_party": B, "session_uuid": "x"})
    assert p.extra == {"session_uuid": "x"}


def test_update_takes_only_updatable_keys() -> None:
    u = parse_update(
        {"record": "false", "geomatch": False, "session_uuid": "x", "ring_timeout": "60"}
    )
    assert u.changes == {"record": False, "ring_timeout": 60}


def test_update_null_url_clears_it() -> None:
    assert parse_update({"callback_url": None}).changes == {"callback_url": None}


def test_update_validates_like_create() -> None:
    with pytest.raises(
        errors.InvalidParameter, match="record_file_format allowed values are mp3 or wav"
    ):
        parse_update({"record_file_format": "flac"})
