"""Every answer of the account, subaccount, number, call and recording routes matches its
model in ``api/shapes.py`` (every listed key present, strictly typed), on both stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from pydantic import BaseModel

from tests.conftest import Tenant, make_tenant, us
from tests.support.calls import LoggedCall, log_call
from tests.support.live import LiveService
from vts_masking.api import shapes


@dataclass
class World:
    t: Tenant
    sub: dict
    done: LoggedCall
    up: LoggedCall


@pytest.fixture(scope="module")
def world(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("data")
    with LiveService(module_db_url, data) as live:
        t = make_tenant(live)
        sub = t.http.post(t.base + "Subaccount/", json={"name": "shapes"}).json()
        t.add_numbers(t.vn(0), t.vn(1))
        t.add_numbers(t.vn(2), subaccount=sub["auth_id"])
        media = data / "call.wav"
        media.write_bytes(b"RIFF" + bytes(64))
        recorded = t.session(first_party=us(1), second_party=us(2), record=True)
        done = log_call(live, recorded, start=datetime(2026, 4, 5, 6, 7, 8), media=media)
        held = t.session(first_party=us(3), second_party=us(4))
        up = log_call(live, held, start=datetime(2026, 4, 5, 7, 0, 0), hang_up=False)
        yield World(t, sub, done, up)
        t.http.close()


Ask = Callable[[World], httpx.Response]

READS: dict[str, tuple[Ask, type[BaseModel]]] = {
    "account": (lambda w: w.t.http.get(w.t.base), shapes.AccountGot),
    "subaccount list": (lambda w: w.t.http.get(w.t.base + "Subaccount/"), shapes.SubaccountList),
    "subaccount": (
        lambda w: w.t.http.get(w.t.base + f"Subaccount/{w.sub['auth_id']}/"),
        shapes.SubaccountGot,
    ),
    "number list": (lambda w: w.t.http.get(w.t.base + "Number/"), shapes.NumberList),
    "number": (lambda w: w.t.http.get(w.t.base + f"Number/{w.t.vn(2)}/"), shapes.NumberGot),
    "call list": (lambda w: w.t.http.get(w.t.base + "Call/"), shapes.CallList),
    "call": (lambda w: w.t.http.get(w.t.base + f"Call/{w.done.callee_leg}/"), shapes.CallGot),
    "live call ids": (
        lambda w: w.t.http.get(w.t.base + "Call/", params={"status": "live"}),
        shapes.LiveCallIds,
    ),
    "queued call ids": (
        lambda w: w.t.http.get(w.t.base + "Call/", params={"status": "queued"}),
        shapes.LiveCallIds,
    ),
    "live call": (
        lambda w: w.t.http.get(w.t.base + f"Call/{w.up.caller_leg}/", params={"status": "live"}),
        shapes.LiveCall,
    ),
    "recording list": (lambda w: w.t.http.get(w.t.base + "Recording/"), shapes.RecordingList),
    "recording": (
        lambda w: w.t.http.get(w.t.base + f"Recording/{w.done.recording}/"),
        shapes.RecordingGot,
    ),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_a_read_matches_its_model(world: World, name: str) -> None:
    ask, model = READS[name]
    r = ask(world)
    assert r.status_code == 200, r.text
    model.model_validate(r.json())


def test_a_list_holds_objects_of_its_model(world: World) -> None:
    for path, model in (
        ("Subaccount/", shapes.SubaccountList),
        ("Number/", shapes.NumberList),
        ("Call/", shapes.CallList),
        ("Recording/", shapes.RecordingList),
    ):
        body = model.model_validate(world.t.http.get(world.t.base + path).json())
        assert body.objects, path  # type: ignore[attr-defined]


def test_writes_match_their_models(world: World) -> None:
    t = world.t
    shapes.AccountUpdated.model_validate(t.http.post(t.base, json={"city": "Lyon"}).json())
    created = t.http.post(t.base + "Subaccount/", json={"name": "written"})
    shapes.SubaccountCreated.model_validate(created.json())
    path = t.base + f"Subaccount/{created.json()['auth_id']}/"
    shapes.SubaccountUpdated.model_validate(t.http.post(path, json={"name": "w2"}).json())
    shapes.Message.model_validate(t.http.delete(path).json())
    added = t.http.post(t.base + "Number/", json={"numbers": t.vn(5)})
    shapes.NumbersAdded.model_validate(added.json())
    number = t.base + f"Number/{t.vn(5)}/"
    shapes.NumberUpdated.model_validate(t.http.post(number, json={"alias": "a"}).json())
    shapes.NumberRemoved.model_validate(t.http.delete(number).json())


def test_a_type_change_would_fail_the_check() -> None:
    with pytest.raises(ValueError, match="total_count"):
        shapes.Meta.model_validate(
            {"limit": 20, "offset": 0, "next": None, "previous": None, "total_count": "1"}
        )


# The keys of the official Python SDK's own fixtures (plivo-python,
# tests/resources/fixtures/*GetResponse.json), and those this service does not carry,
# each with why: a key that goes missing from an answer, or one the family adds that we
# could carry, shows up here.
FAMILY_KEYS = {
    "account": (
        "account_type address api_id auth_id auto_recharge billing_mode cash_credits city "
        "name resource_uri state timezone"
    ),
    "subaccount": (
        "account api_id auth_id auth_token created enabled modified name new_auth_token "
        "resource_uri"
    ),
    "number": (
        "active added_on alias api_id application carrier city cnam_lookup "
        "compliance_application_id compliance_status country mms_enabled mms_rate "
        "monthly_rental_rate number number_type region renewal_date resource_uri "
        "sms_enabled sms_rate sub_account tendlc_campaign_id tendlc_registration_status "
        "toll_free_sms_verification voice_enabled voice_rate"
    ),
    "call": (
        "answer_time api_id bill_duration billed_duration call_direction call_duration "
        "call_uuid end_time from_number initiation_time parent_call_uuid resource_uri "
        "to_number total_amount total_rate"
    ),
    "live call": (
        "api_id call_status call_uuid caller_name direction from request_uuid session_start to"
    ),
    "recording": (
        "add_time api_id call_uuid conference_name monthly_recording_storage_amount "
        "recording_duration_ms recording_end_ms recording_format recording_id "
        "recording_start_ms recording_storage_duration recording_storage_rate "
        "recording_type recording_url resource_uri rounded_recording_duration"
    ),
}
NOT_CARRIED = {
    "account": {
        "auto_recharge": "no prepaid credit: calls are billed, not paid for ahead",
        "billing_mode": "idem",
        "cash_credits": "idem",
        "state": "an address is one text (address, city)",
    },
    "subaccount": {
        "auth_token": "shown once, when the subaccount is made",
        "new_auth_token": "idem",
    },
    "number": {
        "application": "no Application resource: app_id and answer_url instead",
        "carrier": "the trunk is the operator's: accepted on create, not kept",
        "region": "idem",
        "city": "not known of a trunk's number",
        "monthly_rental_rate": "numbers are the operator's, not rented",
        "renewal_date": "idem",
        "voice_rate": "calls are billed by destination prefix, not by number",
        "sms_rate": "no messages on a masking pool",
        "mms_rate": "idem",
        "cnam_lookup": "not offered",
        "compliance_application_id": "number rental compliance: not applicable",
        "compliance_status": "idem",
        "tendlc_campaign_id": "messaging registration: not applicable",
        "tendlc_registration_status": "idem",
        "toll_free_sms_verification": "idem",
    },
    "call": {},
    "live call": {},
    "recording": {
        "conference_name": "recordings are of masked calls, never of conferences",
        "monthly_recording_storage_amount": "storage is the operator's, not billed",
        "recording_storage_rate": "idem",
    },
}


@pytest.mark.parametrize("resource", sorted(FAMILY_KEYS))
def test_an_object_carries_the_family_s_keys(world: World, resource: str) -> None:
    ask, _ = READS[resource]  # the same names as the reads above
    ours = set(ask(world).json())
    expected = set(FAMILY_KEYS[resource].split()) - set(NOT_CARRIED[resource])
    assert expected - ours == set()
    assert set(NOT_CARRIED[resource]) & ours == set()  # carried after all: list it above
