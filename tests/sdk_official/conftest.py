"""The world the family's official SDKs are run against, once per store.

The whole service with its SIP edge on loopback (SQLite, PostgreSQL); a main account
with numbers of its own and a subaccount with its own; one real masked call made with
SIPp (a caller dials the virtual number, a SIPp trunk answers as the other party) on a
session that records, so there are call legs and a recording to read; and one call
still up, written through the store's call log (a SIP call cannot be held up on cue
while the SDKs look at it).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import SCENARIOS, Edge, Sipp, ok, running_edge, wait_for
from tests.support.calls import LoggedCall, log_call
from tests.support.live import LiveService

# The parties of the world's sessions (valid US numbers; phonenumbers agrees).
CALLER = "+14155550181"
CALLEE = "+12125550182"
LIVE_A = "+14155550183"
LIVE_B = "+12125550184"


@dataclass
class World:
    live: LiveService
    main: Tenant
    sub_auth_id: str
    sub_auth_token: str
    main_numbers: list[str]
    sub_numbers: list[str]
    call_session: dict  # the session the SIPp call went through
    inbound_leg: str  # its caller's leg (the family's A leg)
    outbound_leg: str  # the leg to the other party
    recording_id: str
    live_call: LoggedCall
    workdir: Path

    @property
    def url(self) -> str:
        return self.live.url


async def _masked_call(edge: Edge, workdir: Path, caller: str, dialled: str) -> None:
    text = (SCENARIOS / "caller_bye.xml").read_text().replace("+14445556666", caller)
    # Talk for over a second, so the legs are billed (a whole billing increment).
    assert '<pause milliseconds="300"/>' in text
    text = text.replace('<pause milliseconds="300"/>', '<pause milliseconds="1500"/>')
    scenario = workdir / "official_caller.xml"
    scenario.write_text(text)
    callee = Sipp(workdir, "official_callee", port=edge.trunk_port, builtin="uas")
    await callee.start()
    phone = Sipp(
        workdir,
        "official_caller",
        scenario=str(scenario),
        remote=("127.0.0.1", edge.sip_port),
        service=dialled,
    )
    await phone.start()
    ok(await phone.finish())
    ok(await callee.finish())


@pytest.fixture(scope="module")
def world(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if shutil.which("sipp") is None:
        pytest.skip("sipp not installed (sip-tester): the world's call is a real SIP call")
    workdir = tmp_path_factory.mktemp("official")
    with running_edge(module_db_url, workdir, numbers=(1, 2, 3)) as edge:
        main = edge.t
        sub = main.http.post(main.base + "Subaccount/", json={"name": "official"}).json()
        sub_numbers = [main.vn(7), main.vn(8)]
        main.add_numbers(*sub_numbers, subaccount=sub["auth_id"])
        session = main.session(
            first_party=CALLER, second_party=CALLEE, record=True, record_file_format="wav"
        )
        asyncio.run(_masked_call(edge, workdir, CALLER, session["virtual_number"]))

        def recorded() -> dict | None:
            rows = main.http.get(main.base + "Recording/").json()["objects"]
            return rows[0] if rows and rows[0]["recording_status"] == "completed" else None

        rec = wait_for(recorded)
        assert rec, main.http.get(main.base + "Recording/").text
        legs = main.http.get(
            main.base + "Call/", params={"session_uuid": session["session_uuid"]}
        ).json()["objects"]
        by_direction = {leg["call_direction"]: leg["call_uuid"] for leg in legs}
        held = main.session(first_party=LIVE_A, second_party=LIVE_B)
        live_call = log_call(
            edge.live, held, start=datetime.now(UTC).replace(tzinfo=None), hang_up=False
        )
        yield World(
            live=edge.live,
            main=main,
            sub_auth_id=sub["auth_id"],
            sub_auth_token=sub["auth_token"],
            main_numbers=[main.vn(n) for n in (1, 2, 3)],
            sub_numbers=sub_numbers,
            call_session=session,
            inbound_leg=by_direction["inbound"],
            outbound_leg=by_direction["outbound"],
            recording_id=rec["recording_id"],
            live_call=live_call,
            workdir=workdir,
        )


def other_tenant(world: World) -> Tenant:
    """A fresh main account on the same service (for tests that change an account)."""
    return make_tenant(world.live)
