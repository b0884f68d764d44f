"""End to end through a real carrier: Kamailio challenges our INVITEs, BYEs and
REGISTERs (digest), relays to a SIPp callee, delivers calls to our registration; an
outsider's INVITE is refused before routing.

The service runs with a trunks file pointing at the Kamailio of the test; the caller is
a SIPp phone dialling the virtual number, the callee a SIPp behind the carrier.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Tenant
from tests.e2e.conftest import Edge, Sipp, ok, requires_sipp, running_edge, wait_for
from tests.e2e.test_masked_calls import scenario
from tests.support.kamailio import Kamailio, requires_kamailio
from tests.support.live import free_port

pytestmark = [pytest.mark.sipp, requires_sipp, requires_kamailio, pytest.mark.timeout(120)]

A = "+14155550101"  # first party (calls in)
B = "+12125550102"  # second party (reached through the carrier)


def trunks_file(tmp_path: Path, carrier: Kamailio, extra: str = "") -> Path:
    path = tmp_path / "trunks.toml"
    path.write_text(
        f"""
[[trunk]]
name = "carrier"
address = "127.0.0.1:{carrier.port}"
username = "{carrier.user}"
password = "{carrier.password}"
realm = "{carrier.realm}"
{extra}
"""
    )
    return path


@pytest.fixture
def callee_port() -> int:
    return free_port()


@pytest.fixture
def carrier(tmp_path: Path, callee_port: int) -> Iterator[Kamailio]:
    with Kamailio(tmp_path, callee=("127.0.0.1", callee_port), algorithm="SHA-256") as k:
        yield k


@pytest.fixture
def edge(db_url: str, tmp_path: Path, carrier: Kamailio) -> Iterator[Edge]:
    """The service on each store, its one trunk the challenging carrier."""
    with running_edge(db_url, tmp_path, sip_trunks_file=trunks_file(tmp_path, carrier)) as e:
        yield e


def start_session(t: Tenant) -> dict:
    return t.session(first_party=A, second_party=B, virtual_number=t.vn(1))


async def masked_call(edge: Edge, callee_port: int, caller_scenario: str = "caller_bye.xml"):
    callee = Sipp(edge.workdir, "callee", port=callee_port, builtin="uas")
    await callee.start()
    caller = Sipp(
        edge.workdir,
        "caller",
        scenario=scenario(edge.workdir, caller_scenario, A, "caller.xml"),
        remote=("127.0.0.1", edge.sip_port),
        service=edge.t.vn(1),
    )
    await caller.start()
    return await caller.finish(), await callee.finish()


@pytest.mark.asyncio
async def test_call_completes_through_a_challenging_trunk(
    edge: Edge, carrier: Kamailio, callee_port: int
) -> None:
    start_session(edge.t)
    caller, callee = await masked_call(edge, callee_port)
    ok(caller)
    ok(callee)
    assert carrier.count("carrier: challenge INVITE") == 1
    assert carrier.count("carrier: authenticated INVITE from acct") == 1
    invite = next(b for b in callee.received().split("\n\n") if "INVITE sip:" in b)
    assert B in invite and edge.t.vn(1) in invite  # dialled B, presenting the virtual number
    (status,) = edge.engine.b2bua.trunk_status()
    assert status["challenges_answered"] >= 1 and status["challenges_refused"] == 0


@pytest.mark.asyncio
async def test_wrong_trunk_password_fails_the_call_cleanly(
    db_url: str, tmp_path: Path, carrier: Kamailio, callee_port: int
) -> None:
    path = trunks_file(tmp_path, carrier)
    path.write_text(path.read_text().replace('password = "pw"', 'password = "wrong"'))
    with running_edge(db_url, tmp_path, sip_trunks_file=path) as edge:
        start_session(edge.t)
        caller = Sipp(
            tmp_path,
            "caller",
            scenario=scenario(tmp_path, "caller_fail.xml", A, "caller.xml", "403"),
            remote=("127.0.0.1", edge.sip_port),
            service=edge.t.vn(1),
        )
        await caller.start()
        ok(await caller.finish())
        assert carrier.count("carrier: challenge INVITE") == 2  # ours refused: no loop
        (status,) = edge.engine.b2bua.trunk_status()
        assert status["challenges_refused"] == 1
