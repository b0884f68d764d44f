"""No call is ever bridged around the relay: what the service cannot relay it refuses.

When every RTP port of the relay is taken, a call is refused ``503`` with a reason and
``Retry-After`` (and counted) before anything is sent to the other party; with the media
path disabled every call is refused the same way; an offer with nothing the relay can
carry is refused ``488``. In each case the trunk never sees an INVITE, so no phone's
media description ever reaches another phone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Sipp, ok, requires_sipp, running_edge, wait_for
from tests.support.live import free_media_ports
from vts_masking import metrics

pytestmark = [pytest.mark.sipp, requires_sipp, pytest.mark.timeout(90)]

A, B = "+14155550101", "+12125550102"
PCAPS = Path("/usr/share/sip-tester")


def caller_scenario(tmp: Path, name: str, out: str, status: str = "", sdp: str = "") -> str:
    text = (Path(__file__).parent / "sipp" / name).read_text().replace("+14445556666", A)
    text = text.replace("@STATUS@", status)
    if sdp:
        text = text.replace(
            "m=audio [media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000", sdp.strip()
        )
    (tmp / out).write_text(text)
    return str(tmp / out)


def invites(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith("INVITE sip:"))


@pytest.mark.asyncio
async def test_a_call_finding_every_relay_port_taken_is_refused_503_and_reaches_nobody(
    db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "pcap").symlink_to(PCAPS)
    base = free_media_ports(4)  # two even ports and their RTCP neighbours: one call
    with running_edge(db_url, tmp_path, rtp_ports=f"{base}-{base + 3}") as edge:
        edge.t.session(first_party=A, second_party=B)
        callee = Sipp(
            tmp_path,
            "callee",
            port=edge.trunk_port,
            scenario="callee_identity_pcap.xml",
            subs={"NUMBER": B},
        )
        await callee.start()
        first = Sipp(
            tmp_path,
            "first",
            scenario="caller_identity_pcap.xml",
            subs={"NUMBER": A, "PAUSE": "3000"},
            remote=("127.0.0.1", edge.sip_port),
            service=edge.t.vn(1),
        )
        await first.start()
        ports = edge.engine.ports
        assert wait_for(lambda: ports.in_use == ports.capacity == 2)  # the first call
        second = Sipp(
            tmp_path,
            "second",
            scenario=caller_scenario(tmp_path, "caller_fail.xml", "second.xml", "503"),
            remote=("127.0.0.1", edge.sip_port),
            service=edge.t.vn(1),
        )
        await second.start()
        refused = await second.finish()
        ok(refused)
        ok(await first.finish())
        at_callee = (await callee.finish()).received()
        assert wait_for(lambda: ports.in_use == 0, 10)
        stats = dict(edge.engine.stats)
        page = metrics.render().decode()
    answer = refused.received().split("SIP/2.0 503")[1]
    assert "Retry-After: 5" in answer, answer
    assert answer.split("\n")[0].strip() == "No Media Ports Available"
    assert invites(at_callee) == 1  # only the first call reached the trunk
    assert stats["refused_no_media_ports"] == 1
    assert 'vts_calls_refused_total{reason="no_media_ports"} 1.0' in page


@pytest.mark.asyncio
async def test_with_the_media_path_disabled_every_call_is_refused(
    db_url: str, tmp_path: Path
) -> None:
    with running_edge(db_url, tmp_path, media_enabled=False) as edge:
        edge.t.session(first_party=A, second_party=B)
        callee = Sipp(tmp_path, "callee", port=edge.trunk_port, builtin="uas")
        await callee.start()
        caller = Sipp(
            tmp_path,
            "caller",
            scenario=caller_scenario(tmp_path, "caller_fail.xml", "caller.xml", "503"),
            remote=("127.0.0.1", edge.sip_port),
            service=edge.t.vn(1),
        )
        await caller.start()
        ok(await caller.finish())
        assert callee.proc is not None
        callee.proc.terminate()
        at_callee = (await callee.finish(timeout=5)).received()
    assert invites(at_callee) == 0


@pytest.mark.asyncio
async def test_an_offer_without_g711_is_refused_488_and_reaches_nobody(
    db_url: str, tmp_path: Path
) -> None:
    opus_only = (
        "m=audio [media_port] RTP/AVP 111 9\n      a=rtpmap:111 opus/48000/2\n"
        "      a=rtpmap:9 G722/8000"
    )
    with running_edge(db_url, tmp_path) as edge:
        edge.t.session(first_party=A, second_party=B)
        callee = Sipp(tmp_path, "callee", port=edge.trunk_port, builtin="uas")
        await callee.start()
        caller = Sipp(
            tmp_path,
            "caller",
            scenario=caller_scenario(tmp_path, "caller_fail.xml", "c.xml", "488", opus_only),
            remote=("127.0.0.1", edge.sip_port),
            service=edge.t.vn(1),
        )
        await caller.start()
        ok(await caller.finish())
        assert callee.proc is not None
        callee.proc.terminate()
        at_callee = (await callee.finish(timeout=5)).received()
        assert wait_for(lambda: edge.engine.ports.in_use == 0, 10)
    assert invites(at_callee) == 0
