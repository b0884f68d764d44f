"""End to end through a real carrier: Kamailio challenges our INVITEs, BYEs and
REGISTERs (digest), relays to a SIPp callee, delivers calls to our registration; an
outsider's INVITE is refused before routing.

The service runs with a trunks file pointing at the Kamailio of the test; the caller is
a SIPp phone dialling the virtual number, the callee a SIPp behind the carrier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Tenant
from tests.e2e.conftest import Edge, Sipp, ok, requires_sipp, running_edge, wait_for
from tests.e2e.test_masked_calls import scenario
from tests.support.certs import Pem, TestCA
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


# --------------------------------------------------------------------------- registration


@pytest.mark.asyncio
async def test_registration_is_kept_alive_across_its_expiry_and_receives_calls(
    db_url: str, tmp_path: Path, carrier: Kamailio, callee_port: int
) -> None:
    """A 10 s binding with the real registrar: refreshed before it lapses (the expiry
    logic itself runs on a frozen clock in tests/unit/sip/test_registration.py), and a
    call for the account reaches us through it, dialled number in To."""
    path = trunks_file(tmp_path, carrier, "register = true\nregister_expires = 10")
    with running_edge(db_url, tmp_path, sip_trunks_file=path) as edge:
        start_session(edge.t)
        b2bua = edge.engine.b2bua
        reg = b2bua.registrations["carrier"]
        first = wait_for(lambda: reg.successes >= 1)
        assert first and reg.granted == 10
        loop_start = b2bua.transport.now()
        # past the first binding's expiry, with refreshes in between
        await asyncio.sleep(11)
        assert reg.successes >= 2 and reg.registered(b2bua.transport.now())
        assert b2bua.transport.now() - loop_start > 10
        assert carrier.count("carrier: registered") >= 2
        assert carrier.count("carrier: challenge REGISTER") == 1  # refreshes reuse the nonce
        status = b2bua.trunk_status()[0]["registration"]
        assert status["registered"] and status["failures"] == 0

        callee = Sipp(tmp_path, "callee", port=callee_port, builtin="uas")
        await callee.start()
        # the carrier's customer dials the account; the number is in To, and in-dialog
        # requests follow our Contact through the carrier's Record-Route
        text = scenario(tmp_path, "caller_bye.xml", A, "caller.xml")
        body = Path(text).read_text().replace("To: <sip:[service]@", f"To: <sip:{edge.t.vn(1)}@")
        body = body.replace('<recv response="200"/>', '<recv response="200" rrs="true"/>', 1)
        # Our 200 carries the INVITE's Record-Route (RFC 3261 §12.1.1), so the caller's
        # route set is what the request passed: the carrier, not the made-up proxy the
        # scenario's INVITE names as already on the path (no real proxy is there).
        body = body.replace("      Record-Route: <sip:secret-proxy.example;lr>\n", "")
        for method in ("ACK", "BYE"):
            body = body.replace(
                f"{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0",
                f"{method} [next_url] SIP/2.0\n      [routes]",
            )
        Path(text).write_text(body)
        caller = Sipp(tmp_path, "caller", scenario=None, remote=carrier.addr, service="acct")
        caller.args[caller.args.index("-sn") : caller.args.index("-sn") + 2] = ["-sf", text]
        await caller.start()
        ok(await caller.finish())
        ok(await callee.finish())


# --------------------------------------------------------------------------- access list


@pytest.mark.asyncio
async def test_request_from_outside_the_access_list_gets_403_and_never_reaches_routing(
    db_url: str, tmp_path: Path, carrier: Kamailio
) -> None:
    with running_edge(
        db_url,
        tmp_path,
        sip_trunks_file=trunks_file(tmp_path, carrier),
        sip_allow_loopback=False,
    ) as edge:
        start_session(edge.t)
        b2bua = edge.engine.b2bua
        routed: list[object] = []
        route = b2bua.router

        async def watching(inbound):  # type: ignore[no-untyped-def]
            routed.append(inbound)
            return await route(inbound)

        b2bua.router = watching
        outsider = Sipp(
            tmp_path,
            "outsider",
            scenario=scenario(tmp_path, "caller_fail.xml", A, "outsider.xml", "403"),
            remote=("127.0.0.1", edge.sip_port),
            service=edge.t.vn(1),
        )
        outsider.args[outsider.args.index("-i") + 1] = "127.0.0.5"
        await outsider.start()
        ok(await outsider.finish())
        assert routed == []
        assert b2bua.transport.acl.refused.get("127.0.0.5", 0) >= 1
        assert b2bua.calls == {} and b2bua._inbound == {}


# --------------------------------------------------------------------------- early media


@pytest.mark.asyncio
async def test_early_media_from_a_reliable_183_is_heard_by_the_caller(
    db_url: str, tmp_path: Path, carrier: Kamailio, callee_port: int
) -> None:
    from tests.e2e.test_media_calls import PCAPS, RtpSink, pcap_rtp, requires_pcaps

    if not (PCAPS / "g711a.pcap").exists():
        pytest.skip(requires_pcaps.kwargs["reason"])
    (tmp_path / "pcap").symlink_to(PCAPS)
    sink = RtpSink()
    try:
        with running_edge(db_url, tmp_path, sip_trunks_file=trunks_file(tmp_path, carrier)) as edge:
            start_session(edge.t)
            callee = Sipp(tmp_path, "callee", port=callee_port, scenario="early_callee.xml")
            await callee.start()
            caller = Sipp(
                tmp_path,
                "caller",
                scenario="early_caller.xml",
                subs={"SINK_PORT": str(sink.port)},
                remote=("127.0.0.1", edge.sip_port),
                service=edge.t.vn(1),
            )
            caller.args = [a.replace("+14445556666", A) for a in caller.args]
            text = Path(caller.args[caller.args.index("-sf") + 1])
            text.write_text(text.read_text().replace("+14445556666", A))
            await caller.start()
            ok(await caller.finish())
            ok(await callee.finish())
        heard = [p for p in sink.drain() if p[1] & 0x7F == 8]
    finally:
        sink.close()
    spoken = {p[12:] for p in pcap_rtp(PCAPS / "g711a.pcap") if len(p) > 12}
    # the callee never answered: all of it was early media, relayed unchanged (PCMA both)
    assert len(heard) > 50
    assert all(p[12:] in spoken for p in heard)


# --------------------------------------------------------------------------- TLS


def tls_carrier(tmp_path: Path, callee_port: int, served: Pem) -> Kamailio:
    return Kamailio(tmp_path, callee=("127.0.0.1", callee_port), tls=(served.cert, served.key))


def _tls_file(tmp_path: Path, carrier: Kamailio, ca: Path) -> Path:
    path = tmp_path / "trunks-tls.toml"
    path.write_text(
        f"""
[[trunk]]
name = "carrier"
address = "127.0.0.1:{carrier.tls_port}"
transport = "tls"
tls_ca_file = "{ca}"
username = "{carrier.user}"
password = "{carrier.password}"
"""
    )
    return path


@pytest.mark.asyncio
async def test_call_through_a_tls_trunk_verifies_it_and_reuses_the_connection(
    db_url: str, tmp_path: Path, callee_port: int
) -> None:
    ca = TestCA(tmp_path / "pki")
    with (
        tls_carrier(tmp_path, callee_port, ca.issue("carrier")) as carrier,
        running_edge(
            db_url, tmp_path, sip_trunks_file=_tls_file(tmp_path, carrier, ca.pem.cert)
        ) as edge,
    ):
        start_session(edge.t)
        caller, callee = await masked_call(edge, callee_port)
        ok(caller)
        ok(callee)
        assert "(tls)" in carrier.log and carrier.count("carrier: authenticated INVITE") == 1
        # INVITE (challenged, again), ACK and BYE over one connection from one port
        ports = {
            line.split(" from 127.0.0.1:")[1].split(" ")[0]
            for line in carrier.log.splitlines()
            if "(tls)" in line and " from " in line
        }
        assert len(ports) == 1
        assert edge.engine.b2bua.transport.stats["tls_failed"] == 0


@pytest.mark.asyncio
async def test_trunk_with_a_wrong_certificate_is_refused(
    db_url: str, tmp_path: Path, callee_port: int
) -> None:
    ours, theirs = TestCA(tmp_path / "ours", "Our CA"), TestCA(tmp_path / "theirs", "Other CA")
    with (
        tls_carrier(tmp_path, callee_port, theirs.issue("carrier")) as carrier,
        running_edge(
            db_url, tmp_path, sip_trunks_file=_tls_file(tmp_path, carrier, ours.pem.cert)
        ) as edge,
    ):
        start_session(edge.t)
        caller = Sipp(
            tmp_path,
            "caller",
            scenario=scenario(tmp_path, "caller_fail.xml", A, "caller.xml", "408"),
            remote=("127.0.0.1", edge.sip_port),
            service=edge.t.vn(1),
        )
        await caller.start()
        ok(await caller.finish())
        assert edge.engine.b2bua.transport.stats["tls_failed"] >= 1
        assert "carrier: INVITE" not in carrier.log  # nothing was sent to an unverified peer
