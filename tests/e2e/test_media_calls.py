"""End to end through the whole service with media: the RTP relay, recording, prompts, PIN.

A SIPp caller plays real speech (the G.711 A-law capture ``sip-tester`` ships) to the
virtual number; a SIPp callee answers with its media address pointing at a UDP socket of
the test, which records every RTP packet the relay sends it. What arrived there, the
recording the service wrote (downloaded through the API and decoded) and the service's
port allocator are checked against the capture itself, decoded here.
"""

from __future__ import annotations

import io
import socket
import struct
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import SCENARIOS, Sipp, SippResult, free_port, requires_sipp
from tests.support.live import LiveService
from vts_masking.media import g711

pytestmark = [pytest.mark.sipp, requires_sipp, pytest.mark.timeout(120)]

A = "+14155550101"  # first party
B = "+12125550102"  # second party
PCAPS = Path("/usr/share/sip-tester")
requires_pcaps = pytest.mark.skipif(
    not (PCAPS / "g711a.pcap").exists(), reason="sip-tester captures not installed"
)


@dataclass
class Edge:
    t: Tenant
    live: LiveService
    sip_port: int
    trunk_port: int
    workdir: Path

    @property
    def engine(self):
        return self.live.app.state.calls


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    sip_port, trunk_port = free_port(), free_port()
    (tmp_path / "pcap").symlink_to(PCAPS)
    with LiveService(
        f"sqlite:///{tmp_path / 'vts.sqlite3'}",
        tmp_path,
        sip=True,
        sip_listen=f"127.0.0.1:{sip_port}",
        sip_trunk=f"127.0.0.1:{trunk_port}",
        prompts_allow_private=True,
    ) as live:
        t = make_tenant(live)
        t.add_numbers(t.vn(1))
        yield Edge(t, live, sip_port, trunk_port, tmp_path)
        t.http.close()


# --------------------------------------------------------------------------- tools


def pcap_rtp(path: Path) -> list[bytes]:
    """The RTP packets (UDP payloads) of a pcap file, in order."""
    data = path.read_bytes()
    (link,) = struct.unpack_from("<I", data, 20)
    off, out = 24, []
    while off + 16 <= len(data):
        _s, _us, caplen, _len = struct.unpack_from("<IIII", data, off)
        pkt = data[off + 16 : off + 16 + caplen]
        off += 16 + caplen
        ip = pkt[14:] if link == 1 else pkt[16:] if link == 113 else pkt
        ihl = (ip[0] & 0x0F) * 4
        out.append(ip[ihl + 8 :])
    return out


def decode_stream(packets: list[bytes]) -> np.ndarray:
    """G.711 packets laid out by RTP timestamp (silence for gaps) → int16 samples."""
    audio = [p for p in packets if p[1] & 0x7F in (0, 8)]
    if not audio:
        return np.zeros(0, dtype=np.int16)
    ts0 = struct.unpack_from("!I", audio[0], 4)[0]
    end = max(((struct.unpack_from("!I", p, 4)[0] - ts0) & 0xFFFFFFFF) + len(p) - 12 for p in audio)
    out = np.zeros(end, dtype=np.int16)
    for p in audio:
        pos = (struct.unpack_from("!I", p, 4)[0] - ts0) & 0xFFFFFFFF
        codec = "PCMA" if p[1] & 0x7F == 8 else "PCMU"
        out[pos : pos + len(p) - 12] = g711.decode(codec, p[12:])
    return out


class RtpSink:
    """A UDP socket standing in for the callee's phone: keeps every packet it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.packets: list[bytes] = []

    def drain(self) -> list[bytes]:
        while True:
            try:
                self.packets.append(self.sock.recv(4096))
            except BlockingIOError:
                return self.packets

    def close(self) -> None:
        self.sock.close()


def ok(result: SippResult | None) -> None:
    assert result is not None
    assert result.returncode == 0, result.output + result.messages[-3000:]


def wait_for(fn, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def caller_scenario(workdir: Path, name: str, caller: str, subs: dict[str, str] | None = None) -> str:
    text = (SCENARIOS / name).read_text().replace("+14445556666", caller)
    for key, value in (subs or {}).items():
        text = text.replace(f"@{key}@", value)
    path = workdir / f"caller_{name}"
    path.write_text(text)
    return str(path)


async def speech_call(edge: Edge, sink: RtpSink, *, caller: str = A) -> tuple[SippResult, SippResult]:
    callee = Sipp(
        edge.workdir,
        "callee",
        port=edge.trunk_port,
        scenario="media_callee.xml",
        subs={"RTPHOST": "127.0.0.1", "RTPPORT": str(sink.port), "FORMATS": "8 101"},
    )
    await callee.start()
    phone = Sipp(
        edge.workdir,
        "caller",
        scenario=caller_scenario(edge.workdir, "media_caller_pcap.xml", caller),
        remote=("127.0.0.1", edge.sip_port),
        service=edge.t.vn(1),
    )
    await phone.start()
    caller_result = await phone.finish(timeout=40)
    callee_result = await callee.finish(timeout=20)
    return caller_result, callee_result


def ports_released(edge: Edge) -> bool:
    return edge.engine.ports.in_use == 0


# --------------------------------------------------------------------------- relay


@requires_pcaps
@pytest.mark.asyncio
async def test_speech_reaches_the_callee_through_the_relay_and_ports_are_released(
    edge: Edge,
) -> None:
    edge.t.session(first_party=A, second_party=B)
    sink = RtpSink()
    try:
        caller, callee = await speech_call(edge, sink)
        ok(caller)
        ok(callee)
        got = sink.drain()
    finally:
        sink.close()
    # the callee was told to send to the relay, not to the caller's phone
    invite = callee.received().split("INVITE sip:")[1]
    m_line = next(x for x in invite.splitlines() if x.startswith("m=audio"))
    relay_port = int(m_line.split()[1])
    lo, hi = edge.live.settings.rtp_port_range()
    assert lo <= relay_port <= hi
    sent = pcap_rtp(PCAPS / "g711a.pcap")
    # the relay forwards every packet unchanged (same codec both sides), over loopback
    sent_payloads = [p[12:] for p in sent]
    got_payloads = [p[12:] for p in got if p[1] & 0x7F == 8]
    assert len(got_payloads) >= len(sent_payloads) - 2, (len(got_payloads), len(sent_payloads))
    assert got_payloads == sent_payloads[: len(got_payloads)]
    assert wait_for(lambda: ports_released(edge), 10)


# --------------------------------------------------------------------------- recording


def events(t: Tenant, session_uuid: str) -> list[dict]:
    r = t.http.get(t.base + f"Masking/Session/{session_uuid}/Event/")
    return r.json()["response"]["objects"]


def envelope(x: np.ndarray, win: int = 160) -> np.ndarray:
    """RMS per 20 ms window."""
    n = len(x) // win
    return np.sqrt((x[: n * win].astype(np.float64).reshape(n, win) ** 2).mean(axis=1))


@requires_pcaps
@pytest.mark.asyncio
async def test_recording_holds_what_the_caller_said_and_is_downloadable(edge: Edge) -> None:
    t = edge.t
    s = t.session(first_party=A, second_party=B, record=True, record_file_format="wav")
    sink = RtpSink()
    try:
        caller, callee = await speech_call(edge, sink)
    finally:
        sink.close()
    ok(caller)
    ok(callee)

    def completed() -> dict | None:
        rows = t.http.get(t.base + "Recording/").json()["response"]["objects"]
        return rows[0] if rows and rows[0]["recording_status"] == "completed" else None

    rec = wait_for(completed)
    assert rec, t.http.get(t.base + "Recording/").text
    assert rec["recording_format"] == "wav"
    assert rec["session_uuid"] == s["session_uuid"]
    media = t.http.get(rec["recording_url"])
    assert media.status_code == 200 and media.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(media.content)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        recorded = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    spoken = decode_stream(pcap_rtp(PCAPS / "g711a.pcap"))  # 7.08 s of speech
    # the file spans the bridged call: the speech plus the moments before the caller's
    # first packet, never less than what was said
    duration = len(recorded) / 8000
    assert abs(rec["recording_duration_ms"] / 1000 - duration) < 0.05
    assert len(spoken) / 8000 <= duration < len(spoken) / 8000 + 1.5
    # where the speech sits in the file: the best alignment of the energy envelopes
    env_rec, env_spk = envelope(recorded), envelope(spoken)
    scores = [
        np.corrcoef(env_rec[k : k + len(env_spk)], env_spk)[0, 1]
        for k in range(len(env_rec) - len(env_spk) + 1)
    ]
    k = int(np.argmax(scores))
    assert scores[k] > 0.95, scores[k]
    # and sample by sample (one voice only, laid out by RTP timestamps): the same audio
    best = max(
        np.corrcoef(
            recorded[start : start + len(spoken)].astype(np.float64), spoken.astype(np.float64)
        )[0, 1]
        for start in range(max(0, k * 160 - 160), k * 160 + 161)
        if start + len(spoken) <= len(recorded)
    )
    assert best > 0.99, best

    # linked to the interaction, and the three-part story in the events
    view = t.http.get(t.base + f"Masking/Session/{s['session_uuid']}/").json()["response"]
    assert view["interaction"][0]["recording_resource_url"] == rec["recording_resource_url"]
    evs = {e["event_name"]: e["params"] for e in events(t, s["session_uuid"])}
    assert "SessionRecordingInitiated" in evs and "SessionRecordingCompleted" in evs
    done = evs["SessionRecordingCompleted"]
    assert done["RecordingUUID"] == rec["recording_id"]
    assert done["RecordingFormat"] == ".wav"
    assert done["RecordingURL"].endswith(rec["recording_url"])
    assert done["RecordingResourceURL"].endswith(rec["recording_resource_url"])
    assert int(done["RecordingDuration"]) == round(duration)
    assert done["RecordingStartTime"] and done["RecordingEndTime"]
    assert wait_for(lambda: ports_released(edge), 10)
