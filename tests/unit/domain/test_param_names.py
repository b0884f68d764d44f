"""The names official SDKs send are renamed to the API's own (domain/param_names.py)."""

from __future__ import annotations

from vts_masking.domain.param_names import canonical


def test_node_names_become_the_api_s() -> None:
    sent = {"sub_account": "SA1", "geo_match": False, "created_times": "x", "end_time_gte": "y"}
    assert canonical(sent) == {
        "subaccount": "SA1",
        "geomatch": False,
        "created_time": "x",
        "end_time__gte": "y",
    }


def test_the_api_s_own_name_wins_unless_unset() -> None:
    assert canonical({"subaccount": "SA1", "sub_account": "SA2"}) == {"subaccount": "SA1"}
    assert canonical({"subaccount": "", "sub_account": "SA2"}) == {"subaccount": "SA2"}


def test_other_keys_are_left_alone() -> None:
    assert canonical({"session_uuid": "u", "durationz": 1}) == {"session_uuid": "u", "durationz": 1}
