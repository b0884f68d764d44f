"""Typed results: conversion, tolerance of the legacy documentation's shapes, access, repr."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from vts.models import (
    ListMeta,
    MaskingSession,
    MaskingSessionCreateResponse,
    MaskingSessionList,
    MaskingSessionResponse,
    MaskingSessionUpdateResponse,
    Number,
    NumberList,
    VTSObject,
)

# The seed page's update response, quoted strings and "null" strings as documented.
SEED_UPDATE = {
    "session_uuid": "abcd-1234-ab12-cd34",
    "virtual_number": "+12205550020",
    "status": "active",
    "first_party": "+14155552345",
    "second_party": "+12165554567",
    "record": "true",
    "recording_callback_url": "https://www.example.com/recording",
    "record_file_format": None,
    "session_expiry": "3600",
    "call_time_limit": "3600",
    "initiate_call_to_first_party": "false",
    "callback_url": "null",
    "ring_timeout": "120",
    "first_party_play_url": "null",
    "second_party_play_url": "null",
    "created_time": "2023-08-17 21:26:44",
    "modified_time": "2023-08-17 21:27:10",
    "expiry_time": "null",
    "last_interaction_time": "null",
    "total_call_count": "0",
    "total_call_amount": "0",
    "total_call_billed_duration": "0",
    "interaction": "{}",
}


def test_the_seed_response_reads_as_typed_values():
    session = MaskingSessionUpdateResponse(SEED_UPDATE)
    assert session.record is True
    assert session.initiate_call_to_first_party is False
    assert session.session_expiry == 3600
    assert session.call_time_limit == 3600
    assert session.ring_timeout == 120
    assert session.callback_url is None
    assert session.first_party_play_url is None
    assert session.expiry_time is None
    assert session.created_time == datetime(2023, 8, 17, 21, 26, 44, tzinfo=UTC)
    assert session.total_call_amount == Decimal("0")
    assert session.total_call_count == 0
    assert session.interaction == []


def test_raw_keeps_the_json_as_sent():
    session = MaskingSessionUpdateResponse(SEED_UPDATE)
    assert session.raw == SEED_UPDATE
    assert session.raw["record"] == "true"


def test_attribute_and_item_access_agree():
    session = MaskingSession({"record": False, "session_uuid": "u"})
    assert session.record is session["record"] is False
    assert session.get("missing") is None
    assert "record" in session
    assert dict(session) == {"record": False, "session_uuid": "u"}


def test_unknown_field_raises_attribute_error_naming_it():
    session = MaskingSession({"record": False})
    with pytest.raises(AttributeError, match="no field 'recrod'"):
        _ = session.recrod
    with pytest.raises(KeyError):
        _ = session["recrod"]


def test_results_are_read_only():
    session = MaskingSession({"record": False})
    with pytest.raises(AttributeError):
        session.record = True  # type: ignore[misc]


def test_amounts_are_decimal_never_float():
    session = MaskingSession(
        {"amount": 0.1, "total_call_amount": "0.00850", "total_session_amount": 1}
    )
    assert session.amount == Decimal("0.1")
    assert session.total_call_amount == Decimal("0.00850")
    assert session.total_session_amount == Decimal("1")
    assert all(
        isinstance(session[k], Decimal)
        for k in ("amount", "total_call_amount", "total_session_amount")
    )


def test_interactions_are_typed():
    session = MaskingSession(
        {
            "interaction": [
                {
                    "start_time": "2026-01-02 03:04:05",
                    "end_time": "2026-01-02 03:05:05",
                    "duration": 60,
                    "type": "call",
                    "total_call_amount": "0.02000",
                    "call_billed_duration": 60,
                    "first_party_resource_url": "/v1/Account/MA/Call/x/",
                }
            ]
        }
    )
    (interaction,) = session.interaction
    assert interaction.start_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert interaction.total_call_amount == Decimal("0.02000")
    assert interaction.first_party_resource_url.endswith("/Call/x/")


def test_unconvertible_values_are_kept_as_sent():
    session = MaskingSession({"record": "maybe", "created_time": "yesterday", "ring_timeout": []})
    assert session.record == "maybe"
    assert session.created_time == "yesterday"
    assert session.ring_timeout == []


def test_pins_sent_as_numbers_read_as_text():
    session = MaskingSession({"first_party_pin": 1234, "second_party_pin": "0042"})
    assert session.first_party_pin == "1234"
    assert session.second_party_pin == "0042"


def test_create_get_and_list_shapes():
    session = {"session_uuid": "u", "record": "false", "created_time": "2026-11-26 10:00:00"}
    created = MaskingSessionCreateResponse(
        {
            "api_id": "a",
            "session_uuid": "u",
            "virtual_number": "+1",
            "message": "Session created",
            "session": session,
        }
    )
    assert isinstance(created.session, MaskingSession)
    assert created.session.record is False
    got = MaskingSessionResponse({"api_id": "a", "response": session})
    assert got.session is got.response
    assert got.session.created_time.year == 2026
    listed = MaskingSessionList(
        {
            "api_id": "a",
            "response": {
                "meta": {
                    "limit": 20,
                    "offset": 0,
                    "next": None,
                    "previous": None,
                    "total_count": "1",
                },
                "objects": [session],
            },
        }
    )
    assert isinstance(listed.meta, ListMeta)
    assert listed.meta.total_count == 1
    assert [type(o) for o in listed.objects] == [MaskingSession]
    assert listed["response"]["objects"][0].record is False


def test_other_lists_are_top_level_and_type_their_objects():
    numbers = NumberList(
        {
            "api_id": "a",
            "meta": {"limit": 20, "offset": 0, "total_count": "1"},
            "objects": [{"number": "+1", "in_service": True, "active_sessions": "3"}],
        }
    )
    assert numbers.meta.total_count == 1
    assert numbers.objects[0].active_sessions == 3


def test_family_dates_become_dates():
    number = Number({"number": "+1", "added_on": "2026-11-26", "added_time": "2026-11-26 10:00:00"})
    assert number.added_on == date(2026, 11, 26)
    assert number.added_time == datetime(2026, 11, 26, 10, tzinfo=UTC)


def test_print_shows_the_json_and_repr_names_the_type():
    session = MaskingSessionUpdateResponse(SEED_UPDATE)
    assert json.loads(str(session)) == SEED_UPDATE
    text = repr(session)
    assert text.startswith("MaskingSessionUpdateResponse(session_uuid='abcd-1234-ab12-cd34'")
    assert "record=True" in text


def test_unknown_nested_objects_get_attribute_access_too():
    obj = VTSObject({"outer": {"inner": [{"value": 1}]}})
    assert obj.outer.inner[0].value == 1
    assert obj.to_dict() == {"outer": {"inner": [{"value": 1}]}}


def test_results_copy_and_pickle():
    session = MaskingSession({"record": "true", "created_time": "2026-11-26 10:00:00"})
    for clone in (copy.deepcopy(session), pickle.loads(pickle.dumps(session))):
        assert clone.record is True
        assert clone.raw == session.raw


def test_dir_lists_the_fields():
    assert "record" in dir(MaskingSession({"record": True}))
