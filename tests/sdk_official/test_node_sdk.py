"""The family's official Node SDK (npm ``plivo``, 4.x) against the live service.

``node/exercise.js`` calls every method the SDK exposes on masking sessions, the
account, subaccounts, numbers, calls and recordings, once, in the order a customer's
code would, and prints what each answered; each test here checks one of those answers
and, where it changed something, what the service reads back. The SDK is installed from
npm by ``make test`` (``npm ci`` in ``tests/sdk_official/node``, from its lockfile) and
runs on the machine's ``node``. ``docs/api.md`` keeps the table of these methods.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.sdk_official.conftest import CALLEE, CALLER, World
from tests.support.calls import log_call

pytestmark = [pytest.mark.sipp, pytest.mark.timeout(180)]

NODE_DIR = Path(__file__).parent / "node"
NODE = shutil.which("node")
PARTIES = [f"+1415555{n:04d}" for n in range(600, 640)]
POOL = ["+16465550601", "+16465550602", "+16465550603", "+16465550604"]


@pytest.fixture(scope="module")
def ran(world: World) -> dict[str, Any]:
    """Every step's answer: ``{"ok": True, "value": ...}`` or ``{"ok": False, "error":
    {"name", "status", "message"}}``."""
    if NODE is None:
        pytest.skip("node is not installed on this machine")
    if not (NODE_DIR / "node_modules" / "plivo" / "package.json").exists():
        pytest.fail("the official Node SDK is not installed: npm ci --prefix tests/sdk_official/node")
    spare = []
    for n in range(2):
        session = world.main.session(
            first_party=f"+1415555{n + 700:04d}", second_party=f"+1212555{n + 700:04d}"
        )
        media = world.workdir / f"node-{n}.wav"
        media.write_bytes(b"RIFF" + bytes(64))
        call = log_call(world.live, session, start=datetime(2026, 1, 1, n), media=media)
        spare.append(call.recording)
    plan = {
        "url": world.url,
        "main": {"authId": world.main.auth_id, "authToken": world.main.auth_token},
        "sub": {"authId": world.sub_auth_id},
        "parties": PARTIES,
        "callSession": world.call_session,
        "inboundLeg": world.inbound_leg,
        "outboundLeg": world.outbound_leg,
        "recordingId": world.recording_id,
        "spareRecordings": spare,
        "liveLeg": world.live_call.caller_leg,
        "subNumbers": world.sub_numbers,
        "poolNumbers": POOL,
    }
    path = world.workdir / "node-world.json"
    path.write_text(json.dumps(plan))
    done = subprocess.run(
        [NODE, "exercise.js", str(path)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


def ok(ran: dict[str, Any], step: str) -> Any:
    """What the step answered; fails with the SDK's error when it raised one."""
    result = ran[step]
    assert result["ok"], (step, result.get("error"))
    return result["value"]


def refused(ran: dict[str, Any], step: str) -> dict[str, Any]:
    result = ran[step]
    assert not result["ok"], (step, result.get("value"))
    return result["error"]


def session_of(world: World, uuid: str) -> dict:
    r = world.main.http.get(world.main.base + f"Masking/Session/{uuid}/")
    return r.json()["response"]


# -- masking sessions ---------------------------------------------------------------------


def test_create_masking_session(ran, world: World) -> None:
    created = ok(ran, "maskingSession.createMaskingSession")
    assert created["message"] == "Session created"
    session = created["session"]
    assert (session["sessionExpiry"], session["callTimeLimit"], session["ringTimeout"]) == (
        600,
        120,
        30,
    )
    assert (session["record"], session["recordFileFormat"]) == (True, "wav")
    assert (session["callbackUrl"], session["callbackMethod"]) == ("https://example.com/cb", "GET")
    assert session["virtualNumberCooloffPeriod"] == 5


def test_create_masking_session_sub_account_lands_on_the_subaccount(ran, world: World) -> None:
    created = ok(ran, "maskingSession.createMaskingSession subAccount")
    assert created["session"]["subaccount"] == world.sub_auth_id
    assert created["virtualNumber"] in world.sub_numbers


def test_create_masking_session_geo_match_false_is_kept(ran, world: World) -> None:
    created = ok(ran, "maskingSession.createMaskingSession geoMatch false")
    assert session_of(world, created["sessionUuid"])["geomatch"] is False


def test_create_masking_session_with_a_single_party(ran) -> None:
    session = ok(ran, "maskingSession.createMaskingSession single party")["session"]
    assert session["createSessionWithSingleParty"] is True and session["secondParty"] is None


def test_get_masking_session(ran, world: World) -> None:
    got = ok(ran, "maskingSession.getMaskingSession")["response"]
    assert (got["firstParty"], got["secondParty"]) == (CALLER, CALLEE)
    assert got["interaction"][0]["firstPartyResourceUrl"] == (
        f"{world.url}{world.main.base}Call/{world.inbound_leg}/"
    )


def test_update_masking_session(ran) -> None:
    updated = ok(ran, "maskingSession.updateMaskingSession")
    assert updated["message"] == "Session updated"
    assert updated["session"]["ringTimeout"] == 45
    again = ok(ran, "maskingSession.getMaskingSession after update")["response"]
    assert (again["callTimeLimit"], again["ringTimeout"], again["record"]) == (3600, 45, True)


def test_list_masking_session(ran, world: World) -> None:
    page = ok(ran, "maskingSession.listMaskingSession")["response"]
    assert page["meta"]["totalCount"] == 1 and page["meta"]["limit"] == 5
    assert page["objects"][0]["sessionUuid"] == world.call_session["session_uuid"]


@pytest.mark.parametrize(
    ("variant", "found"),
    [
        ("createdTimeEquals", 1),
        ("createdTimeLessOrEqual", 1),
        ("createdTimeGreaterThan", 0),
        ("expiryTimeEquals", 1),
        ("durationEquals", 1),
    ],
)
def test_list_masking_session_time_and_duration_filters(ran, variant: str, found: int) -> None:
    # createdTimeEquals & co. reach the service as created_times & co. (the SDK's
    # snake-casing), and a session's own shown time filters as its whole second.
    page = ok(ran, f"maskingSession.listMaskingSession {variant}")["response"]
    assert page["meta"]["totalCount"] == found


def test_list_masking_session_sub_account(ran, world: World) -> None:
    page = ok(ran, "maskingSession.listMaskingSession subAccount")["response"]
    assert page["meta"]["totalCount"] >= 1
    assert {o["subaccount"] for o in page["objects"]} == {world.sub_auth_id}


def test_delete_masking_session(ran) -> None:
    assert ok(ran, "maskingSession.deleteMaskingSession")["message"] == "Session expired"
    assert ok(ran, "maskingSession.getMaskingSession after delete")["response"]["status"] == (
        "expired"
    )
    error = refused(ran, "maskingSession.deleteMaskingSession again")
    assert (error["status"], error["message"]) == (400, "Session already expired.")


# -- the account --------------------------------------------------------------------------


def test_accounts_get(ran, world: World) -> None:
    account = ok(ran, "accounts.get")
    assert account["accountType"] == "main"
    assert account["resourceUri"] == world.main.base
    assert account["timezone"] == "UTC"


def test_accounts_update(ran) -> None:
    assert ok(ran, "accounts.update")["message"] == "Account updated"
    got = ok(ran, "accounts.get after update")
    assert (got["name"], got["city"], got["address"]) == ("Node Acme", "Lyon", "1 rue")


# -- subaccounts -----------------------------------------------------------------------------


def test_subaccounts_create(ran) -> None:
    created = ok(ran, "subaccounts.create")
    assert created["authId"].startswith("SA") and created["authToken"]
    assert created["message"] == "Subaccount created"


def test_subaccounts_get(ran, world: World) -> None:
    got = ok(ran, "subaccounts.get")
    assert (got["name"], got["enabled"], got["account"]) == ("node-sub", True, world.main.base)
    assert got["resourceUri"].endswith(f"/Subaccount/{got['authId']}/")


def test_subaccounts_update(ran) -> None:
    assert ok(ran, "subaccounts.update")["message"] == "Subaccount updated"
    got = ok(ran, "subaccounts.get after update")
    assert (got["name"], got["enabled"]) == ("node-renamed", False)


def test_subaccounts_list(ran, world: World) -> None:
    listed = ok(ran, "subaccounts.list")
    assert world.sub_auth_id in {s["authId"] for s in listed["items"]}
    assert listed["meta"]["totalCount"] == len(listed["items"])


def test_sub_accounts_is_the_same_interface(ran, world: World) -> None:
    assert ok(ran, "subAccounts.get")["authId"] == world.sub_auth_id


def test_a_listed_subaccount_updates_itself(ran) -> None:
    assert ok(ran, "subaccounts.list item update")["message"] == "Subaccount updated"
    got = ok(ran, "subaccounts.get after item update")
    assert (got["name"], got["enabled"]) == ("node-via-item", True)


def test_subaccounts_delete(ran) -> None:
    assert ok(ran, "subaccounts.delete") is True
    assert refused(ran, "subaccounts.get after delete")["status"] == 404


def test_a_listed_subaccount_deletes_itself_with_cascade(ran) -> None:
    assert ok(ran, "subaccounts.list item delete cascade") is True
    assert refused(ran, "numbers.get after cascade")["status"] == 404


# -- numbers (the masking pool) ---------------------------------------------------------------


def test_numbers_add_own_number(ran) -> None:
    added = ok(ran, "numbers.addOwnNumber")
    assert added["numbers"] == POOL[:2] and added["message"] == "Numbers added"


def test_numbers_get(ran, world: World) -> None:
    got = ok(ran, "numbers.get")
    assert (got["number"], got["country"], got["numberType"]) == (POOL[0], "US", "local")
    assert got["active"] is True and got["voiceEnabled"] is True
    assert got["resourceUri"] == f"{world.main.base}Number/{POOL[0]}/"


def test_numbers_list(ran, world: World) -> None:
    listed = ok(ran, "numbers.list")
    assert set(world.sub_numbers) <= {n["number"] for n in listed["items"]}
    assert {n["subAccount"] for n in listed["items"]} == {world.sub_auth_id}


def test_numbers_list_number_startswith(ran) -> None:
    listed = ok(ran, "numbers.list numberStartswith")
    assert {n["number"] for n in listed["items"]} >= set(POOL[:2])


def test_numbers_update(ran) -> None:
    assert ok(ran, "numbers.update")["message"] == "Number updated"
    got = ok(ran, "numbers.get after update")
    assert (got["alias"], got["appId"]) == ("front desk", "app-1")


def test_numbers_update_sub_account(ran, world: World) -> None:
    ok(ran, "numbers.update subAccount")
    assert ok(ran, "numbers.get after subAccount update")["subAccount"] == world.sub_auth_id


def test_a_number_updates_and_unrents_itself(ran) -> None:
    assert ok(ran, "numbers.get item update and unrent")["alias"] == "via item"
    assert refused(ran, "numbers.get after item unrent")["status"] == 404


def test_numbers_unrent(ran) -> None:
    assert ok(ran, "numbers.unrent") is True
    assert refused(ran, "numbers.get after unrent")["status"] == 404


@pytest.mark.parametrize("method", ["search", "buy"])
def test_renting_numbers_is_not_offered(ran, method: str) -> None:
    error = refused(ran, f"numbers.{method}")
    assert (error["status"], error["message"]) == (404, "Resource not found.")


# -- calls ------------------------------------------------------------------------------------


def test_calls_get(ran, world: World) -> None:
    leg = ok(ran, "calls.get")
    assert (leg["callUuid"], leg["parentCallUuid"]) == (world.outbound_leg, world.inbound_leg)
    assert (leg["callDirection"], leg["toNumber"]) == ("outbound", CALLEE)
    assert leg["billedDuration"] == 60 and leg["totalAmount"] == "0.01000"
    assert leg["hangupCauseName"] == "NORMAL_CLEARING"


def test_calls_list(ran, world: World) -> None:
    listed = ok(ran, "calls.list")
    assert [c["callUuid"] for c in listed["items"]] == [world.inbound_leg]
    assert listed["meta"]["totalCount"] == 1


def test_calls_list_end_time_filters(ran, world: World) -> None:
    # endTimeEquals reaches the service as end_times; end_time__gt is kept as written.
    assert [c["callUuid"] for c in ok(ran, "calls.list endTimeEquals")["items"]] == [
        world.inbound_leg
    ]
    assert ok(ran, "calls.list end_time__gt")["items"] == []


def test_calls_list_parent_call_uuid(ran, world: World) -> None:
    listed = ok(ran, "calls.list parentCallUuid")
    assert [c["callUuid"] for c in listed["items"]] == [world.outbound_leg]


def test_calls_list_live_calls(ran, world: World) -> None:
    live = ok(ran, "calls.listLiveCalls")
    assert {c["callUuid"] for c in live["items"]} == {
        world.live_call.caller_leg,
        world.live_call.callee_leg,
    }


def test_calls_get_live_call(ran, world: World) -> None:
    live = ok(ran, "calls.getLiveCall")
    assert (live["callUuid"], live["callStatus"], live["direction"]) == (
        world.live_call.caller_leg,
        "in-progress",
        "inbound",
    )
    assert refused(ran, "calls.getLiveCall ended")["status"] == 404


def test_calls_queued_calls_are_none(ran) -> None:
    assert ok(ran, "calls.listQueuedCalls")["items"] == []
    assert refused(ran, "calls.getQueuedCall")["status"] == 404


CALL_CONTROL = [
    "create",
    "hangup",
    "transfer",
    "record",
    "stopRecording",
    "playMusic",
    "stopPlayingMusic",
    "speakText",
    "stopSpeakingText",
    "sendDigits",
    "cancel",
    "stream",
    "stopStream",
    "stopAllStream",
    "getStream",
    "getAllStream",
]


@pytest.mark.parametrize("method", CALL_CONTROL)
def test_call_control_is_refused_with_a_reason(ran, method: str) -> None:
    error = refused(ran, f"calls.{method}")
    assert error["status"] == 405
    assert error["message"].startswith("Calls are placed by masking sessions")


# -- recordings -----------------------------------------------------------------------------


def test_recordings_get(ran, world: World) -> None:
    rec = ok(ran, "recordings.get")
    assert (rec["recordingId"], rec["callUuid"]) == (world.recording_id, world.inbound_leg)
    assert rec["recordingUrl"] == f"{world.url}{world.main.base}Recording/{world.recording_id}/Media/"
    assert rec["fromNumber"] == CALLER and rec["recordingFormat"] == "wav"
    assert rec["recordingEndMs"] >= rec["recordingStartMs"]


def test_recordings_list(ran, world: World) -> None:
    listed = ok(ran, "recordings.list")
    assert [r["recordingId"] for r in listed["items"]] == [world.recording_id]


def test_recordings_list_add_time_filters(ran, world: World) -> None:
    assert world.recording_id in {r["recordingId"] for r in ok(ran, "recordings.list add_time__lte")["items"]}
    assert ok(ran, "recordings.list add_time__gt")["items"] == []


def test_recordings_delete(ran) -> None:
    assert ok(ran, "recordings.delete") is True
    assert refused(ran, "recordings.get after delete")["status"] == 404
