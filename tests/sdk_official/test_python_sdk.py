"""The family's official Python SDK (PyPI ``plivo``, 4.x) against the live service.

Every method it exposes on masking sessions, the account, subaccounts, numbers, calls
and recordings, called the way its documentation shows, with the values read back.
``docs/api.md`` keeps the table of these methods; the tests named ``..._sdk_defect``
pin down what the SDK itself gets wrong (and the workaround the table gives).

The SDK has no base-URL option: it builds every URL from module constants of
``plivo.rest.client`` (``PLIVO_API_BASE_URI`` for account, subaccounts and numbers; the
``API_VOICE_BASE_URI*`` trio for sessions, calls and recordings) and resets its client's
``base_uri`` on every request. Pointing those constants at the service is the one way
to aim it elsewhere, and what a customer of a self-hosted deployment does too.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.sdk_official.conftest import CALLEE, CALLER, World, other_tenant
from tests.support.calls import log_call

plivo = pytest.importorskip("plivo", reason="the official Python SDK (dev extra) is missing")
from plivo import exceptions as plivo_errors  # noqa: E402
from plivo.rest import client as plivo_rest  # noqa: E402

pytestmark = [pytest.mark.sipp, pytest.mark.timeout(120)]

BASE_CONSTANTS = (
    "PLIVO_API_BASE_URI",
    "API_VOICE_BASE_URI",
    "API_VOICE_BASE_URI_FALLBACK_1",
    "API_VOICE_BASE_URI_FALLBACK_2",
)
_parties = itertools.count(1)


def party() -> str:
    """A fresh party, so no two sessions compete for the same bindings."""
    return f"+1415555{next(_parties) + 300:04d}"


@pytest.fixture(scope="module")
def aimed(world: World) -> Iterator[None]:
    """The SDK's base URLs pointed at the service for this module."""
    saved = {name: getattr(plivo_rest, name) for name in BASE_CONSTANTS}
    for name in BASE_CONSTANTS:
        setattr(plivo_rest, name, f"{world.url}/v1/Account")
    yield
    for name, value in saved.items():
        setattr(plivo_rest, name, value)


@pytest.fixture(scope="module")
def client(world: World, aimed: None) -> Iterator[Any]:
    with plivo.RestClient(world.main.auth_id, world.main.auth_token, timeout=30) as c:
        yield c


@pytest.fixture
def fresh(world: World, aimed: None) -> Iterator[tuple[Any, Any]]:
    """A client of a new main account (for tests that change the account itself)."""
    tenant = other_tenant(world)
    with plivo.RestClient(tenant.auth_id, tenant.auth_token, timeout=30) as c:
        yield c, tenant
    tenant.http.close()


def create(client: Any, **params: Any) -> Any:
    params.setdefault("first_party", party())
    params.setdefault("second_party", party())
    return client.masking_sessions.create_masking_session(**params)


# -- masking sessions --------------------------------------------------------------------


def test_create_masking_session(client: Any, world: World) -> None:
    created = create(
        client,
        session_expiry=600,
        call_time_limit=120,
        ring_timeout=30,
        record=True,
        record_file_format="wav",
        recording_callback_url="https://example.com/rec",
        callback_url="https://example.com/cb",
        callback_method="GET",
        is_pin_authentication_required=False,
        virtual_number_cooloff_period=5,
    )
    assert created.message == "Session created"
    assert client.numbers.get(created.virtual_number).sub_account is None  # the main pool
    session = created.session
    assert (session.session_expiry, session.call_time_limit, session.ring_timeout) == (600, 120, 30)
    assert (session.record, session.record_file_format) == (True, "wav")
    assert (session.callback_url, session.callback_method) == ("https://example.com/cb", "GET")
    assert session.virtual_number_cooloff_period == 5


def test_create_masking_session_for_a_subaccount_uses_its_numbers(
    client: Any, world: World
) -> None:
    created = create(client, subaccount=world.sub_auth_id, geomatch=True)
    assert created.session.subaccount == world.sub_auth_id
    assert created.virtual_number in world.sub_numbers


def test_create_masking_session_with_a_single_party(client: Any) -> None:
    created = client.masking_sessions.create_masking_session(
        first_party=party(), create_session_with_single_party=True
    )
    assert created.session.create_session_with_single_party is True
    assert created.session.second_party is None


def test_get_masking_session(client: Any, world: World) -> None:
    got = client.masking_sessions.get_masking_session(world.call_session["session_uuid"])
    session = got.response
    assert (session.first_party, session.second_party) == (CALLER, CALLEE)
    assert session.record is True and session.total_call_count == 2
    inter = session.interaction[0]
    assert inter.first_party_resource_url == f"{world.url}{world.main.base}Call/{world.inbound_leg}/"


def test_update_masking_session(client: Any) -> None:
    uuid = create(client).session_uuid
    updated = client.masking_sessions.update_masking_session(
        uuid, call_time_limit=3600, record=True, ring_timeout=45
    )
    assert updated.message == "Session updated"
    assert (updated.call_time_limit, updated.record, updated.ring_timeout) == (3600, True, 45)
    assert updated.session.ring_timeout == 45
    again = client.masking_sessions.get_masking_session(uuid).response
    assert again.ring_timeout == 45


def test_delete_masking_session(client: Any) -> None:
    uuid = create(client).session_uuid
    assert client.masking_sessions.delete_masking_session(uuid).message == "Session expired"
    assert client.masking_sessions.get_masking_session(uuid).response.status == "expired"
    with pytest.raises(plivo_errors.ValidationError, match="Session already expired"):
        client.masking_sessions.delete_masking_session(uuid)


def test_list_masking_session_with_filters(client: Any, world: World) -> None:
    listed = client.masking_sessions.list_masking_session(first_party=CALLER, limit=5)
    page = listed.response
    assert page.meta.total_count == 1 and page.meta.limit == 5
    only = page.objects[0]
    assert only.session_uuid == world.call_session["session_uuid"]
    assert only.resource_uri.endswith(f"/Masking/Session/{only.session_uuid}/")


def test_list_masking_session_by_its_own_created_time(client: Any, world: World) -> None:
    shown = world.call_session["created_time"]
    kwargs = {"first_party": CALLER}
    lists = client.masking_sessions.list_masking_session
    assert lists(created_time=shown, **kwargs).response.meta.total_count == 1
    assert lists(created_time__lte=shown, **kwargs).response.meta.total_count == 1
    assert lists(created_time__gt=shown, **kwargs).response.meta.total_count == 0


def test_unknown_masking_session_raises_resource_not_found(client: Any) -> None:
    with pytest.raises(plivo_errors.ResourceNotFoundError, match="Session not found"):
        client.masking_sessions.get_masking_session("no-such-session")


# -- the account -------------------------------------------------------------------------


def test_account_get(client: Any, world: World) -> None:
    account = client.account.get()
    assert account.auth_id == world.main.auth_id
    assert account.account_type == "main"
    assert account.resource_uri == world.main.base
    assert account.id == world.main.auth_id


def test_account_update(fresh: tuple[Any, Any]) -> None:
    client, _ = fresh
    assert client.account.update(name="Acme", city="Lyon", address="1 rue").message
    got = client.account.get()
    assert (got.name, got.city, got.address) == ("Acme", "Lyon", "1 rue")


def test_account_resource_get(client: Any, world: World) -> None:
    assert client.account.get().get().auth_id == world.main.auth_id


def test_account_resource_update_is_an_sdk_defect(fresh: tuple[Any, Any]) -> None:
    # Account.update passes *to_param_dict(...): the keys of its own parameters, not
    # their values, so the name becomes "name". The workaround is client.account.update.
    client, _ = fresh
    client.account.get().update(name="Acme")
    assert client.account.get().name == "name"


# -- subaccounts ---------------------------------------------------------------------------


def test_subaccounts_create(client: Any) -> None:
    created = client.subaccounts.create("py-create", enabled=True)
    assert created.auth_id.startswith("SA") and len(created.auth_id) == 20
    assert created.auth_token and created.message == "Subaccount created"
    assert client.subaccounts.get(created.auth_id).enabled is True


def test_subaccounts_create_is_disabled_unless_asked(client: Any) -> None:
    # The SDK sends enabled=False unless told otherwise, as the family's API defaults.
    created = client.subaccounts.create("py-default")
    assert client.subaccounts.get(created.auth_id).enabled is False


def test_subaccounts_get(client: Any, world: World) -> None:
    sub = client.subaccounts.get(world.sub_auth_id)
    assert sub.auth_id == world.sub_auth_id and sub.name == "official"
    assert sub.account == world.main.base
    assert sub.resource_uri == f"{world.main.base}Subaccount/{world.sub_auth_id}/"
    assert sub.id == world.sub_auth_id


def test_subaccounts_update(client: Any) -> None:
    created = client.subaccounts.create("py-update", enabled=True)
    assert client.subaccounts.update(created.auth_id, "py-renamed", enabled=True).message
    got = client.subaccounts.get(created.auth_id)
    assert (got.name, got.enabled) == ("py-renamed", True)


def test_subaccounts_list(client: Any, world: World) -> None:
    listed = client.subaccounts.list(limit=20, offset=0)
    assert world.sub_auth_id in {s.auth_id for s in listed.objects}
    assert listed.meta.total_count == len(listed.objects)


def test_subaccounts_iterate_every_page(client: Any, world: World) -> None:
    for n in range(21):  # more than one page of 20
        client.subaccounts.create(f"py-page-{n}")
    total = client.subaccounts.list(limit=1).meta.total_count
    walked = [s.auth_id for s in client.subaccounts]
    assert len(walked) == len(set(walked)) == total


def test_subaccounts_delete(client: Any) -> None:
    created = client.subaccounts.create("py-delete")
    client.subaccounts.delete(created.auth_id)
    with pytest.raises(plivo_errors.ResourceNotFoundError):
        client.subaccounts.get(created.auth_id)


def test_subaccounts_delete_with_cascade(client: Any, world: World) -> None:
    created = client.subaccounts.create("py-cascade", enabled=True)
    client.numbers.create("+1 646 555 0299", "carrier", "region", subaccount=created.auth_id)
    client.subaccounts.delete(created.auth_id, cascade=True)
    with pytest.raises(plivo_errors.ResourceNotFoundError):
        client.numbers.get("+16465550299")


def test_subaccount_resource_update_and_delete(client: Any) -> None:
    sub = client.subaccounts.get(client.subaccounts.create("py-resource").auth_id)
    sub.update("py-resource-renamed", enabled=True)
    assert client.subaccounts.get(sub.auth_id).name == "py-resource-renamed"
    sub.delete()
    with pytest.raises(plivo_errors.ResourceNotFoundError):
        client.subaccounts.get(sub.auth_id)


# -- numbers (the masking pool) --------------------------------------------------------------


def test_numbers_create_adds_to_the_pool(client: Any) -> None:
    # carrier and region are required by the SDK; the trunk is the operator's, so they
    # are accepted and not kept.
    added = client.numbers.create("+16465550201,+16465550202", "trunk", "US-CA")
    assert added.numbers == ["+16465550201", "+16465550202"]
    assert client.numbers.get("+16465550202").active is True


def test_numbers_create_for_a_subaccount(client: Any, world: World) -> None:
    client.numbers.create("+16465550203", "trunk", "US", subaccount=world.sub_auth_id)
    assert client.numbers.get("+16465550203").sub_account == world.sub_auth_id


def test_numbers_get(client: Any, world: World) -> None:
    number = client.numbers.get(world.main_numbers[0])
    assert number.number == world.main_numbers[0] and number.id == world.main_numbers[0]
    assert (number.country, number.number_type, number.voice_enabled) == ("US", "local", True)
    assert number.sub_account is None
    assert number.resource_uri == f"{world.main.base}Number/{world.main_numbers[0]}/"


def test_numbers_list_with_filters(client: Any, world: World) -> None:
    listed = client.numbers.list(subaccount=world.sub_auth_id, limit=20, offset=0)
    assert {n.number for n in listed.objects} >= set(world.sub_numbers)
    assert all(n.sub_account == world.sub_auth_id for n in listed.objects)
    prefix = world.main_numbers[0][1:-1]  # digits with the country code, as the family's
    assert world.main_numbers[0] in {
        n.number for n in client.numbers.list(number_startswith=prefix).objects
    }


def test_numbers_iterate_every_page(client: Any, world: World) -> None:
    client.numbers.create(",".join(f"+1646555{n:04d}" for n in range(400, 421)), "trunk", "US")
    walked = [n.number for n in client.numbers]
    assert len(walked) > 20
    assert set(world.main_numbers) | set(world.sub_numbers) <= set(walked)
    assert len(walked) == len(set(walked))


def test_numbers_update(client: Any) -> None:
    client.numbers.create("+16465550204", "trunk", "US")
    assert client.numbers.update("+16465550204", alias="front desk", app_id="app-1").message
    got = client.numbers.get("+16465550204")
    assert (got.alias, got.app_id) == ("front desk", "app-1")


def test_numbers_update_moves_a_number_to_a_subaccount(client: Any, world: World) -> None:
    client.numbers.create("+16465550205", "trunk", "US")
    client.numbers.update("+16465550205", subaccount=world.sub_auth_id)
    assert client.numbers.get("+16465550205").sub_account == world.sub_auth_id


def test_numbers_delete(client: Any) -> None:
    client.numbers.create("+16465550206", "trunk", "US")
    client.numbers.delete("+16465550206")
    with pytest.raises(plivo_errors.ResourceNotFoundError):
        client.numbers.get("+16465550206")


def test_number_resource_update_and_delete(client: Any) -> None:
    client.numbers.create("+16465550207", "trunk", "US")
    number = client.numbers.get("+16465550207")
    number.update(alias="via resource")
    assert client.numbers.get("+16465550207").alias == "via resource"
    number.delete()
    with pytest.raises(plivo_errors.ResourceNotFoundError):
        client.numbers.get("+16465550207")


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.numbers.search("US"),
        lambda c: c.numbers.buy("+16465550208"),
    ],
    ids=["search", "buy"],
)
def test_renting_numbers_is_not_offered(client: Any, call: Any) -> None:
    # A self-hosted pool has no inventory to rent from: numbers are the operator's trunk
    # numbers, added with numbers.create.
    with pytest.raises(plivo_errors.ResourceNotFoundError, match="Resource not found"):
        call(client)


# -- calls ---------------------------------------------------------------------------------


def test_calls_get(client: Any, world: World) -> None:
    leg = client.calls.get(world.outbound_leg)
    assert leg.call_uuid == world.outbound_leg
    assert leg.parent_call_uuid == world.inbound_leg
    assert (leg.call_direction, leg.to_number) == ("outbound", CALLEE)
    assert leg.from_number == world.call_session["virtual_number"]
    assert leg.call_status == "completed" and leg.hangup_cause_name == "NORMAL_CLEARING"
    assert leg.bill_duration >= 1 and leg.billed_duration == 60
    assert (leg.total_amount, leg.total_rate) == ("0.01000", "0.01000")
    assert leg.session_uuid == world.call_session["session_uuid"]


def test_calls_list_with_filters(client: Any, world: World) -> None:
    listed = client.calls.list(call_direction="inbound", from_number=CALLER, limit=20)
    assert [c.call_uuid for c in listed.objects] == [world.inbound_leg]
    end = client.calls.get(world.inbound_leg).end_time
    assert [c.call_uuid for c in client.calls.list(end_time=end, from_number=CALLER).objects] == [
        world.inbound_leg
    ]
    assert client.calls.list(end_time__gt=end, from_number=CALLER).meta.total_count == 0
    assert [
        c.call_uuid for c in client.calls.list(parent_call_uuid=world.inbound_leg).objects
    ] == [world.outbound_leg]


def test_calls_iterate_every_page(client: Any, world: World) -> None:
    walked = [c.call_uuid for c in client.calls]
    assert {world.inbound_leg, world.outbound_leg, world.live_call.caller_leg} <= set(walked)


def test_calls_live_call_list_ids(client: Any, world: World) -> None:
    live = client.calls.live_call_list_ids()
    assert set(live.calls) == {world.live_call.caller_leg, world.live_call.callee_leg}
    assert set(client.live_calls.list_ids(call_direction="inbound").calls) == {
        world.live_call.caller_leg
    }


def test_calls_live_call_get(client: Any, world: World) -> None:
    live = client.calls.live_call_get(world.live_call.caller_leg)
    assert (live.call_uuid, live.call_status, live.direction) == (
        world.live_call.caller_leg,
        "in-progress",
        "inbound",
    )
    with pytest.raises(plivo_errors.ResourceNotFoundError):
        client.live_calls.get(world.inbound_leg)  # ended


def test_calls_queued_calls_are_none(client: Any, world: World) -> None:
    assert client.calls.queued_call_list_ids().calls == []
    with pytest.raises(plivo_errors.ResourceNotFoundError):
        client.calls.queued_call_get(world.live_call.caller_leg)


CALL_CONTROL = {
    "create": lambda c, u: c.calls.create("+12202000001", "+14155550100", "https://e.com/a"),
    "update": lambda c, u: c.calls.update(u, legs="aleg", aleg_url="https://e.com/a"),
    "transfer": lambda c, u: c.calls.transfer(u, legs="aleg", aleg_url="https://e.com/a"),
    "delete": lambda c, u: c.calls.delete(u),
    "hangup": lambda c, u: c.calls.hangup(u),
    "cancel": lambda c, u: c.calls.cancel(u),
    "record": lambda c, u: c.calls.record(u),
    "start_recording": lambda c, u: c.calls.start_recording(u),
    "record_stop": lambda c, u: c.calls.record_stop(u),
    "stop_recording": lambda c, u: c.calls.stop_recording(u, None, None),
    "play": lambda c, u: c.calls.play(u, "https://e.com/a.mp3"),
    "start_playing": lambda c, u: c.calls.start_playing(u, "https://e.com/a.mp3"),
    "play_stop": lambda c, u: c.calls.play_stop(u),
    "stop_playing": lambda c, u: c.calls.stop_playing(u),
    "speak": lambda c, u: c.calls.speak(u, "hello"),
    "start_speaking": lambda c, u: c.calls.start_speaking(u, "hello"),
    "speak_stop": lambda c, u: c.calls.speak_stop(u),
    "stop_speaking": lambda c, u: c.calls.stop_speaking(u),
    "send_digits": lambda c, u: c.calls.send_digits(u, "123"),
    "start_stream": lambda c, u: c.calls.start_stream(u, "wss://e.com/s"),
    "get_all_streams": lambda c, u: c.calls.get_all_streams(u),
    "get_details_of_specific_stream": lambda c, u: c.calls.get_details_of_specific_stream(u, "s"),
    "delete_all_streams": lambda c, u: c.calls.delete_all_streams(u),
    "delete_specific_stream": lambda c, u: c.calls.delete_specific_stream(u, "s"),
}


@pytest.mark.parametrize("method", sorted(CALL_CONTROL))
def test_call_control_is_refused_with_a_reason(client: Any, world: World, method: str) -> None:
    with pytest.raises(plivo_errors.InvalidRequestError, match="Calls are placed by masking"):
        CALL_CONTROL[method](client, world.live_call.caller_leg)


# -- recordings ----------------------------------------------------------------------------


def test_recordings_get(client: Any, world: World) -> None:
    rec = client.recordings.get(world.recording_id)
    assert rec.recording_id == world.recording_id and rec.id == world.recording_id
    assert (rec.call_uuid, rec.recording_format) == (world.inbound_leg, "wav")
    assert rec.recording_url == f"{world.url}{world.main.base}Recording/{world.recording_id}/Media/"
    assert rec.recording_resource_url.startswith(world.url + "/v1/")
    assert isinstance(datetime.strptime(rec.add_time, "%Y-%m-%d %H:%M:%S"), datetime)


def test_recordings_list_with_filters(client: Any, world: World) -> None:
    listed = client.recordings.list(call_uuid=world.inbound_leg, limit=20, offset=0)
    assert [r.recording_id for r in listed.objects] == [world.recording_id]
    add_time = listed.objects[0].add_time
    assert client.recordings.list(add_time__lte=add_time).meta.total_count >= 1
    assert client.recordings.list(add_time__gt=add_time).meta.total_count == 0


def test_recordings_iterate_every_page(client: Any, world: World) -> None:
    assert world.recording_id in [r.recording_id for r in client.recordings]


@pytest.fixture
def spare_recording(world: World) -> str:
    """A recording of its own (a call logged through the store's call log on a fresh
    session), for the tests that delete one."""
    session = create_via_http(world)
    media = world.workdir / f"{session['session_uuid']}.wav"
    media.write_bytes(b"RIFF" + bytes(64))
    call = log_call(world.live, session, start=datetime(2026, 1, 1, 0, 0, 0), media=media)
    assert call.recording is not None
    return call.recording


def create_via_http(world: World) -> dict:
    return world.main.session(first_party=party(), second_party=party(), record=True)


def test_recordings_delete(client: Any, spare_recording: str) -> None:
    client.recordings.delete(spare_recording)
    with pytest.raises(plivo_errors.ResourceNotFoundError):
        client.recordings.get(spare_recording)


def test_recording_resource_delete(client: Any, spare_recording: str) -> None:
    client.recordings.get(spare_recording).delete()
    with pytest.raises(plivo_errors.ResourceNotFoundError):
        client.recordings.get(spare_recording)
