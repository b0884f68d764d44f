"""Real softphones through the whole service: two baresip instances on loopback.

The caller (127.0.0.2) dials the virtual number; the service calls the callee (127.0.0.3,
the "trunk") from the virtual number through its RTP relay. Each phone's microphone is a
tone of its own (Alice 440 Hz, Bob 1000 Hz), so what each heard (baresip's decoded dump)
and what the service recorded show by frequency whose voice reached where. Every byte
each phone received is captured and checked for the other's identity
(``tests/e2e/leaks.py``): headers, SDP, RTP headers, RTCP, both ways, and with the callee
calling back.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import Tenant
from tests.e2e.baresip import Baresip, band_energy, requires_baresip, tone_file
from tests.e2e.conftest import Edge, running_edge, wait_for
from tests.e2e.leaks import Capture, leaks, requires_capture
from tests.e2e.test_media_calls import PromptServer, tone_wav

pytestmark = [requires_baresip, pytest.mark.timeout(120)]

A = "+14155550101"  # first party: Alice's phone
B = "+12125550102"  # second party: Bob's phone
A_IP, B_IP = "127.0.0.2", "127.0.0.3"
A_HZ, B_HZ = 440.0, 1000.0


@dataclass
class Call:
    """A call placed by ``caller`` to the virtual number, reaching ``callee``."""

    caller: Baresip
    callee: Baresip
    edge: Edge
    capture: Capture | None

    @property
    def t(self) -> Tenant:
        return self.edge.t


def phones(tmp: Path, **kw: object) -> tuple[Baresip, Baresip]:
    alice = Baresip(
        tmp,
        "alice",
        number=A,
        ip=A_IP,
        display="Alice Secret",
        tone=tone_file(tmp / "alice.wav", A_HZ, 30),
        **kw,  # type: ignore[arg-type]
    )
    bob = Baresip(
        tmp,
        "bob",
        number=B,
        ip=B_IP,
        display="Bob Hidden",
        tone=tone_file(tmp / "bob.wav", B_HZ, 30),
        **kw,  # type: ignore[arg-type]
    )
    return alice, bob


@contextlib.asynccontextmanager
async def placed(
    db_url: str,
    tmp: Path,
    *,
    callback: bool = False,
    capture: bool = False,
    session: dict[str, object] | None = None,
    talk: float = 2.0,
    during: Callable[[Call], Awaitable[None]] | None = None,
    **phone_kw: object,
) -> AsyncIterator[Call]:
    """Alice calls the virtual number and reaches Bob (``callback``: Bob calls, reaching
    Alice), they talk for ``talk`` seconds (``during`` runs meanwhile), the caller hangs
    up; the body of the ``with`` sees the finished call."""
    alice, bob = phones(tmp, **phone_kw)
    caller, callee = (bob, alice) if callback else (alice, bob)
    with running_edge(
        db_url,
        tmp,
        trunk_host=callee.ip,
        trunk_port=callee.sip_port,
        prompts_allow_private=True,
    ) as edge:
        edge.t.session(first_party=A, second_party=B, **(session or {}))
        cap = Capture(tmp, [alice.party, bob.party]) if capture else None
        call = Call(caller, callee, edge, cap)
        with cap if cap is not None else contextlib.nullcontext():
            try:
                await callee.start()
                await caller.start(dial=f"sip:{edge.t.vn(1)}@127.0.0.1:{edge.sip_port}")
                await caller.wait_for("CALL_ESTABLISHED")
                await callee.wait_for("CALL_ESTABLISHED")
                if during is not None:
                    await during(call)
                await asyncio.sleep(talk)
                await caller.command("hangup")
                await callee.wait_for("CALL_CLOSED")
            finally:
                await caller.stop()
                await callee.stop()
        assert wait_for(lambda: edge.engine.ports.in_use == 0, 10)
        yield call


def heard(phone: Baresip) -> np.ndarray:
    samples, rate = phone.dump("dec")
    assert rate == 8000
    return samples


def share(x: np.ndarray, hz: float) -> float:
    return band_energy(x, 8000, hz)


# --------------------------------------------------------------------------- audio


@pytest.mark.asyncio
async def test_each_phone_hears_the_other_through_the_relay(db_url: str, tmp_path: Path) -> None:
    async with placed(db_url, tmp_path) as call:
        at_bob, at_alice = heard(call.callee), heard(call.caller)
    # the second half of the call: audio flowing steadily both ways
    at_bob, at_alice = at_bob[len(at_bob) // 2 :], at_alice[len(at_alice) // 2 :]
    assert share(at_bob, A_HZ) > 0.8, share(at_bob, A_HZ)
    assert share(at_alice, B_HZ) > 0.8, share(at_alice, B_HZ)


@pytest.mark.asyncio
async def test_the_recording_holds_both_voices(db_url: str, tmp_path: Path) -> None:
    async with placed(
        db_url, tmp_path, session={"record": True, "record_file_format": "wav"}
    ) as call:
        t = call.t

        def completed() -> dict | None:
            rows = t.http.get(t.base + "Recording/").json()["objects"]
            return rows[0] if rows and rows[0]["recording_status"] == "completed" else None

        rec = wait_for(completed)
        assert rec, t.http.get(t.base + "Recording/").text
        media = t.http.get(rec["recording_url"])
    with wave.open(io.BytesIO(media.content)) as w:
        recorded = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert len(recorded) / 8000 > 1.5
    both = share(recorded, A_HZ) + share(recorded, B_HZ)
    assert share(recorded, A_HZ) > 0.2 and share(recorded, B_HZ) > 0.2 and both > 0.8


# --------------------------------------------------------------------------- privacy


@requires_capture
@pytest.mark.asyncio
async def test_nothing_of_either_phone_reaches_the_other(db_url: str, tmp_path: Path) -> None:
    async with placed(db_url, tmp_path, capture=True) as call:
        assert call.capture is not None
        alice, bob = call.caller.party, call.callee.party
        assert leaks(call.capture, alice, bob) == []
        assert leaks(call.capture, bob, alice) == []


@requires_capture
@pytest.mark.asyncio
async def test_nothing_crosses_when_the_callee_calls_back(db_url: str, tmp_path: Path) -> None:
    async with placed(db_url, tmp_path, capture=True, callback=True) as call:
        assert call.capture is not None
        bob, alice = call.caller.party, call.callee.party
        assert leaks(call.capture, bob, alice) == []
        assert leaks(call.capture, alice, bob) == []
        at_alice = heard(call.callee)
    assert share(at_alice[len(at_alice) // 2 :], B_HZ) > 0.8


# --------------------------------------------------------------------------- mid-call


def invites(messages: list[str]) -> list[str]:
    return [m for m in messages if m.startswith("INVITE ")]


def answers(messages: list[str]) -> list[str]:
    return [m for m in messages if m.startswith("SIP/2.0 200") and "CSeq:" in m and " INVITE" in m]


def direction(sdp_message: str) -> str:
    for d in ("sendonly", "recvonly", "inactive", "sendrecv"):
        if f"a={d}" in sdp_message:
            return d
    return "sendrecv"


@pytest.mark.asyncio
async def test_hold_and_resume_cross_as_directions_and_audio_comes_back(
    db_url: str, tmp_path: Path
) -> None:
    async def hold_both_and_resume(call: Call) -> None:
        alice, bob = call.caller, call.callee
        await asyncio.sleep(0.5)
        # each step waits for the answer to its re-INVITE (no glare)
        await alice.command("hold")  # a=sendonly
        await alice.wait_for("CALL_REMOTE_SDP", 2, param="answer")
        await bob.command("hold")
        await bob.wait_for("CALL_REMOTE_SDP", 1, param="answer")
        await alice.command("resume")
        await alice.wait_for("CALL_REMOTE_SDP", 3, param="answer")
        await bob.command("resume")
        await bob.wait_for("CALL_REMOTE_SDP", 2, param="answer")

    async with placed(db_url, tmp_path, during=hold_both_and_resume, talk=2.5) as call:
        alice, bob = call.caller, call.callee
        at_bob, at_alice = bob.sip_received(), alice.sip_received()
        heard_bob, heard_alice = heard(bob), heard(alice)
    # Alice's hold and resume reached Bob as offers, his answers came back to her
    assert [direction(m) for m in invites(at_bob)[1:]] == ["sendonly", "sendrecv"]
    assert [direction(m) for m in answers(at_alice)] == ["sendrecv", "recvonly", "sendonly"]
    # Bob's hold (Alice, held herself, answered inactive) and his resume the other way
    assert [direction(m) for m in invites(at_alice)] == ["sendonly", "sendrecv"]
    assert [direction(m) for m in answers(at_bob)] == ["inactive", "sendrecv"]
    # and after the last resume both voices flow again
    tail = 8000  # the last second
    assert share(heard_bob[-tail:], A_HZ) > 0.8
    assert share(heard_alice[-tail:], B_HZ) > 0.8


@requires_capture
@pytest.mark.asyncio
async def test_a_transfer_attempt_is_refused_and_reaches_nobody(
    db_url: str, tmp_path: Path
) -> None:
    async def transfer(call: Call) -> None:
        await asyncio.sleep(1.0)  # talk first: audio both ways, for the leak check
        # (baresip hangs up itself once its REFER is refused)
        await call.caller.command("transfer", f"sip:+13125550199@{A_IP}")
        await call.callee.wait_for("CALL_CLOSED")

    async with placed(db_url, tmp_path, capture=True, during=transfer) as call:
        assert call.capture is not None
        alice, bob = call.caller, call.callee
        refused = [m for m in alice.sip_received() if m.startswith("SIP/2.0 405")]
        assert refused and " REFER" in refused[0] and "REFER" not in refused[0].split("Allow:")[1]
        assert not any(m.startswith(("REFER", "NOTIFY")) for m in bob.sip_received())
        assert len(invites(bob.sip_received())) == 1  # nobody else was called
        assert leaks(call.capture, alice.party, bob.party) == []
        assert leaks(call.capture, bob.party, alice.party) == []


@pytest.mark.asyncio
async def test_a_phone_offering_opus_and_g722_first_is_put_on_g711(
    db_url: str, tmp_path: Path
) -> None:
    async with placed(db_url, tmp_path, codecs=("opus", "g722", "g711")) as call:
        alice, bob = call.caller, call.callee
        offer_to_bob = invites(bob.sip_received())[0]
        answer_to_alice = answers(alice.sip_received())[0]
        heard_bob = heard(bob)
    sent_by_alice = alice.log.decode("utf-8", "replace")
    assert "opus/48000" in sent_by_alice  # she did offer opus first
    m_line = next(x for x in offer_to_bob.splitlines() if x.startswith("m=audio"))
    assert m_line.split()[3:] == ["0", "8", "101"], m_line
    assert "opus" not in offer_to_bob and "G722" not in offer_to_bob
    m_line = next(x for x in answer_to_alice.splitlines() if x.startswith("m=audio"))
    assert m_line.split()[3] in ("0", "8"), m_line
    assert share(heard_bob[len(heard_bob) // 2 :], A_HZ) > 0.8


# --------------------------------------------------------------------------- PIN


def pin_statuses(t: Tenant, session_uuid: str) -> list[tuple[str, str]]:
    r = t.http.get(t.base + f"Masking/Session/{session_uuid}/Event/")
    return [
        (e["params"]["PinAuthenticationStatus"], e["params"]["PinRetryCounter"])
        for e in r.json()["response"]["objects"]
        if e["event_name"] == "SessionPinAuthenticationStatus"
    ]


@pytest.mark.asyncio
async def test_a_pin_keyed_on_the_phone_connects_to_the_second_party(
    db_url: str, tmp_path: Path
) -> None:
    carol = Baresip(
        tmp_path,
        "carol",
        number="+13125550199",  # no party of the session: asked for a PIN
        ip="127.0.0.4",
        display="Carol Unknown",
        tone=tone_file(tmp_path / "carol.wav", 700, 30),
    )
    _, bob = phones(tmp_path)
    prompts = PromptServer({"pin.wav": tone_wav(800, 0.5)})
    with running_edge(
        db_url, tmp_path, trunk_host=B_IP, trunk_port=bob.sip_port, prompts_allow_private=True
    ) as edge:
        t = edge.t
        s = t.session(
            first_party=A,
            second_party=B,
            is_pin_authentication_required=True,
            first_party_pin="1234",
            second_party_pin="9876",
            pin_prompt_play=prompts.url("pin.wav"),
        )
        try:
            await bob.start()
            await carol.start(dial=f"sip:{t.vn(1)}@127.0.0.1:{edge.sip_port}")
            await carol.wait_for("CALL_ESTABLISHED")  # answered by the service: the PIN
            await asyncio.sleep(0.5)
            for digit in "1234#":  # RFC 4733 telephone-events
                await carol.command("sndcode", digit)
                await asyncio.sleep(0.25)
            await bob.wait_for("CALL_ESTABLISHED", timeout=20)
            await asyncio.sleep(2.0)
            await carol.command("hangup")
            await bob.wait_for("CALL_CLOSED")
        finally:
            await carol.stop()
            await bob.stop()
            prompts.close()
        assert wait_for(lambda: pin_statuses(t, s["session_uuid"])) == [("success", "1")]
        # the digits went as RTP telephone-events, not SIP INFO
        assert not any(m.startswith("INFO ") for m in carol.sip_sent())
        assert any(m.startswith("INVITE ") for m in carol.sip_sent())
        at_bob = heard(bob)
        assert share(at_bob[len(at_bob) // 2 :], 700) > 0.8
        assert wait_for(lambda: edge.engine.ports.in_use == 0, 10)
