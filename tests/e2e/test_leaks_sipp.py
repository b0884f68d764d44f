"""The leak check with SIPp phones: every byte each phone received, both ways.

SIPp phones that show every identity they can — display name, P-Asserted-Identity,
Remote-Party-ID, User-Agent/Server, Record-Route, Contact, SDP origin, session name and
info, ``a=ssrc`` cname, ``a=msid``, ICE candidates, ``a=rtcp`` with their address — and
that talk (sip-tester's G.711 capture, so RTP flows both ways), on their own loopback
addresses. The capture of everything they received (``tests/e2e/leaks.py``) must hold
nothing of the other phone: the caller's to the callee, the callee's to the caller, and
the same when the callee calls back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Sipp, ok, requires_sipp, running_edge, wait_for
from tests.e2e.leaks import Capture, Party, leaks, requires_capture

pytestmark = [pytest.mark.sipp, requires_sipp, requires_capture, pytest.mark.timeout(90)]

A, B = "+14155550101", "+12125550102"
A_IP, B_IP = "127.0.0.2", "127.0.0.3"
PCAPS = Path("/usr/share/sip-tester")
requires_pcaps = pytest.mark.skipif(
    not (PCAPS / "g711a.pcap").exists(), reason="sip-tester captures not installed"
)


def party(sipp: Sipp, name: str, number: str, display: str, agent: str) -> Party:
    return Party(
        name,
        sipp.ip,
        sipp.port,
        (sipp.media_port, sipp.media_port + 3),
        number,
        display,
        (agent, name + "secret", name + "hidden"),
    )


@requires_pcaps
@pytest.mark.asyncio
@pytest.mark.parametrize("callback", [False, True], ids=["caller-to-callee", "callee-calls-back"])
async def test_nothing_of_either_sipp_phone_reaches_the_other(
    db_url: str, tmp_path: Path, callback: bool
) -> None:
    (tmp_path / "pcap").symlink_to(PCAPS)
    caller_no, callee_no = (B, A) if callback else (A, B)
    caller_ip, callee_ip = (B_IP, A_IP) if callback else (A_IP, B_IP)
    callee = Sipp(
        tmp_path,
        "callee",
        scenario="callee_identity_pcap.xml",
        subs={"NUMBER": callee_no},
        ip=callee_ip,
    )
    with running_edge(db_url, tmp_path, trunk_host=callee_ip, trunk_port=callee.port) as edge:
        edge.t.session(first_party=A, second_party=B)
        caller = Sipp(
            tmp_path,
            "caller",
            scenario="caller_identity_pcap.xml",
            subs={"NUMBER": caller_no, "PAUSE": "2500"},
            remote=("127.0.0.1", edge.sip_port),
            service=edge.t.vn(1),
            ip=caller_ip,
        )
        alice = party(caller, "caller", caller_no, "Alice Secret", "SecretPhone/9.9")
        bob = party(callee, "callee", callee_no, "Bob Hidden", "HiddenPhone/7.7")
        with Capture(tmp_path, [alice, bob]) as cap:
            await callee.start()
            await caller.start()
            ok(await caller.finish())
            ok(await callee.finish())
        assert leaks(cap, alice, bob) == []
        assert leaks(cap, bob, alice) == []
        assert wait_for(lambda: edge.engine.ports.in_use == 0, 10)
