"""End to end through the whole service with media: the RTP relay, recording, prompts, PIN.

A SIPp caller plays real speech (the G.711 A-law capture ``sip-tester`` ships) to the
virtual number; a SIPp callee answers with its media address pointing at a UDP socket of
the test, which records every RTP packet the relay sends it. What arrived there, the
recording the service wrote (downloaded through the API and decoded) and the service's
port allocator are checked against the capture itself, decoded here.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import io
import socket
import struct
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import Tenant
from tests.e2e import conftest as e2e
from tests.e2e.conftest import SCENARIOS, Edge, Sipp, SippResult, ok, requires_sipp, wait_for
from vts_masking.media import g711

pytestmark = [pytest.mark.sipp, requires_sipp, pytest.mark.timeout(120)]

A = "+14155550101"  # first party
B = "+12125550102"  # second party
PCAPS = Path("/usr/share/sip-tester")
requires_pcaps = pytest.mark.skipif(
    not (PCAPS / "g711a.pcap").exists(), reason="sip-tester captures not installed"
)


@contextlib.contextmanager
def running_edge(tmp_path: Path, db_url: str = "", **settings: object) -> Iterator[Edge]:
    """The service with media: prompts from loopback, sip-tester's captures at hand."""
    (tmp_path / "pcap").symlink_to(PCAPS)
    with e2e.running_edge(
        db_url or f"sqlite:///{tmp_path / 'vts.sqlite3'}",
        tmp_path,
        prompts_allow_private=True,
        **settings,
    ) as edge:
        yield edge


@pytest.fixture
def edge(db_url: str, tmp_path: Path) -> Iterator[Edge]:
    """The whole service on each store (SQLite, PostgreSQL), media relay included."""
    with running_edge(tmp_path, db_url) as e:
        yield e


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
    """A UDP socket standing in for a phone's media port: keeps every packet it gets,
    with its arrival time (a thread reads it)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.arrivals: list[tuple[float, bytes]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.arrivals.append((time.monotonic(), data))

    @property
    def packets(self) -> list[bytes]:
        return [p for _t, p in self.arrivals]

    def drain(self) -> list[bytes]:
        time.sleep(0.2)
        return self.packets

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


class PromptServer:
    """Serves prompt files over HTTP on loopback (``url(name)``)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # a number's answer_url is fetched with POST
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def tone_wav(freq: float, seconds: float, rate: int = 16000) -> bytes:
    """A sine tone as a 16-bit WAV file (16 kHz: the service resamples it to 8 kHz)."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.5 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def dominant_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.argmax(spec) * 8000 / len(x))


@pytest.fixture
def prompts() -> Iterator[PromptServer]:
    server = PromptServer(
        {
            "caller.wav": tone_wav(1000, 1.0),
            "callee.wav": tone_wav(600, 0.8),
            "pin.wav": tone_wav(800, 0.5),
            "wrong.wav": tone_wav(400, 0.4),
            "unknown.wav": tone_wav(1200, 0.6),
            "broken.wav": b"RIFF not really a wave file",
        }
    )
    yield server
    server.close()


def caller_scenario(
    workdir: Path, name: str, caller: str, subs: dict[str, str] | None = None
) -> str:
    text = (SCENARIOS / name).read_text().replace("+14445556666", caller)
    for key, value in (subs or {}).items():
        text = text.replace(f"@{key}@", value)
    path = workdir / f"caller_{name}"
    path.write_text(text)
    return str(path)


async def speech_call(
    edge: Edge, sink: RtpSink, *, caller: str = A
) -> tuple[SippResult, SippResult]:
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


def envelope_match(recorded: np.ndarray, spoken: np.ndarray) -> tuple[float, int]:
    """Best correlation of the 20 ms energy envelopes of ``spoken`` and a stretch of
    ``recorded``, and the sample where that stretch starts (searched every 20 samples,
    so the window grid does not depend on where the speech fell in the file)."""
    env_spk = envelope(spoken)
    best = (-1.0, 0)
    for shift in range(0, 160, 20):
        env_rec = envelope(recorded[shift:])
        for k in range(len(env_rec) - len(env_spk) + 1):
            score = float(np.corrcoef(env_rec[k : k + len(env_spk)], env_spk)[0, 1])
            if score > best[0]:
                best = (score, shift + k * 160)
    return best


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
        rows = t.http.get(t.base + "Recording/").json()["objects"]
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
    score, at = envelope_match(recorded, spoken)
    assert score > 0.95, score
    # and sample by sample (one voice only, laid out by RTP timestamps): the same audio
    best = max(
        np.corrcoef(
            recorded[start : start + len(spoken)].astype(np.float64), spoken.astype(np.float64)
        )[0, 1]
        for start in range(max(0, at - 40), at + 41)
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
    # absolute in the API as in the callback, from the same public URL
    assert done["RecordingURL"] == rec["recording_url"]
    assert done["RecordingResourceURL"] == rec["recording_resource_url"]
    assert int(done["RecordingDuration"]) == round(duration)
    assert done["RecordingStartTime"] and done["RecordingEndTime"]
    assert wait_for(lambda: ports_released(edge), 10)


@requires_pcaps
@pytest.mark.asyncio
async def test_mp3_recording_holds_the_speech(edge: Edge) -> None:
    import soundfile

    t = edge.t
    t.session(first_party=A, second_party=B, record=True)  # record_file_format: mp3
    sink = RtpSink()
    try:
        caller, callee = await speech_call(edge, sink)
    finally:
        sink.close()
    ok(caller)
    ok(callee)

    def completed() -> dict | None:
        rows = t.http.get(t.base + "Recording/").json()["objects"]
        return rows[0] if rows and rows[0]["recording_status"] == "completed" else None

    rec = wait_for(completed)
    assert rec and rec["recording_format"] == "mp3"
    media = t.http.get(rec["recording_url"])
    assert media.status_code == 200 and media.headers["content-type"] == "audio/mpeg"
    decoded, rate = soundfile.read(io.BytesIO(media.content), dtype="int16")
    assert rate == 8000
    spoken = decode_stream(pcap_rtp(PCAPS / "g711a.pcap"))
    assert len(spoken) / 8000 <= len(decoded) / 8000 < len(spoken) / 8000 + 1.5
    best, _at = envelope_match(decoded, spoken)
    assert best > 0.95, best


@pytest.mark.asyncio
async def test_a_call_without_media_in_either_direction_is_ended(tmp_path: Path) -> None:
    with running_edge(tmp_path, media_inactivity_timeout=1.0) as edge:
        edge.t.session(first_party=A, second_party=B)
        caller_sink, callee_sink = RtpSink(), RtpSink()
        try:
            # neither phone sends anything: the service hangs up both sides
            caller, callee = await listening_call(
                edge, caller_sink, callee_sink, caller=A, scenario="media_caller_wait_bye.xml"
            )
        finally:
            caller_sink.close()
            callee_sink.close()
        ok(caller)
        ok(callee)
        assert wait_for(lambda: ports_released(edge), 10)


# --------------------------------------------------------------------------- prompts

STRANGER = "+13125550199"


async def listening_call(
    edge: Edge,
    caller_sink: RtpSink,
    callee_sink: RtpSink | None,
    *,
    caller: str,
    scenario: str = "media_caller_listen.xml",
    pause_ms: int = 3500,
) -> tuple[SippResult, SippResult | None]:
    callee = None
    if callee_sink is not None:
        callee = Sipp(
            edge.workdir,
            "callee",
            port=edge.trunk_port,
            scenario="media_callee.xml",
            subs={"RTPHOST": "127.0.0.1", "RTPPORT": str(callee_sink.port), "FORMATS": "8 101"},
        )
        await callee.start()
    phone = Sipp(
        edge.workdir,
        "caller",
        scenario=caller_scenario(
            edge.workdir,
            scenario,
            caller,
            {"RTPHOST": "127.0.0.1", "RTPPORT": str(caller_sink.port), "PAUSE": str(pause_ms)},
        ),
        remote=("127.0.0.1", edge.sip_port),
        service=edge.t.vn(1),
    )
    await phone.start()
    caller_result = await phone.finish(timeout=40)
    callee_result = await callee.finish(timeout=20) if callee is not None else None
    return caller_result, callee_result


def audio_of(sink: RtpSink) -> tuple[np.ndarray, float, float]:
    """Decoded audio a sink got, with the arrival times of its first and last packet."""
    audio = [(t, p) for t, p in sink.arrivals if p[1] & 0x7F in (0, 8)]
    assert audio, "no audio arrived"
    return decode_stream([p for _t, p in audio]), audio[0][0], audio[-1][0]


@pytest.mark.asyncio
async def test_each_party_hears_its_own_prompt_before_they_are_bridged(
    edge: Edge, prompts: PromptServer
) -> None:
    # the second party calls: the first party's prompt still belongs to the first party
    edge.t.session(
        first_party=A,
        second_party=B,
        first_party_play_url=prompts.url("callee.wav"),
        second_party_play_url=prompts.url("caller.wav"),
    )
    caller_sink, callee_sink = RtpSink(), RtpSink()
    try:
        caller, callee = await listening_call(edge, caller_sink, callee_sink, caller=B)
        ok(caller)
        ok(callee)
        heard_by_caller, _c0, c_end = audio_of(caller_sink)
        heard_by_callee, b_start, _b1 = audio_of(callee_sink)
    finally:
        caller_sink.close()
        callee_sink.close()
    assert f"INVITE sip:{A}@" in callee.received()
    # the caller (PCMU) heard the 1 kHz second-party prompt, 1.0 s of it
    assert abs(len(heard_by_caller) / 8000 - 1.0) < 0.05
    assert abs(dominant_hz(heard_by_caller) - 1000) < 20
    # the callee (PCMA) heard the 600 Hz first-party prompt, 0.8 s of it
    assert abs(len(heard_by_callee) / 8000 - 0.8) < 0.05
    assert abs(dominant_hz(heard_by_callee) - 600) < 20
    # in that order: the callee was dialled after the caller's prompt was over
    assert b_start > c_end
    assert wait_for(lambda: ports_released(edge), 10)


@pytest.mark.asyncio
async def test_a_prompt_that_cannot_be_decoded_is_skipped_and_the_call_goes_on(
    edge: Edge, prompts: PromptServer
) -> None:
    edge.t.session(
        first_party=A,
        second_party=B,
        first_party_play_url=prompts.url("broken.wav"),
        second_party_play_url=prompts.url("callee.wav"),
    )
    caller_sink, callee_sink = RtpSink(), RtpSink()
    try:
        caller, callee = await listening_call(edge, caller_sink, callee_sink, caller=A)
        ok(caller)
        ok(callee)
        heard_by_callee, _b0, _b1 = audio_of(callee_sink)
    finally:
        caller_sink.close()
        callee_sink.close()
    assert not [p for p in caller_sink.packets if p[1] & 0x7F in (0, 8)]
    assert abs(dominant_hz(heard_by_callee) - 600) < 20


@pytest.mark.asyncio
async def test_unknown_caller_hears_the_prompt_and_is_hung_up_on(
    edge: Edge, prompts: PromptServer
) -> None:
    edge.t.session(first_party=A, second_party=B, unknown_caller_play=prompts.url("unknown.wav"))
    sink = RtpSink()
    try:
        caller, _ = await listening_call(
            edge, sink, None, caller=STRANGER, scenario="media_caller_wait_bye.xml"
        )
        ok(caller)
        heard, _t0, _t1 = audio_of(sink)
    finally:
        sink.close()
    assert abs(len(heard) / 8000 - 0.6) < 0.05
    assert abs(dominant_hz(heard) - 1200) < 20
    assert wait_for(lambda: ports_released(edge), 10)


# --------------------------------------------------------------------------- PIN


def pin_statuses(t: Tenant, session_uuid: str) -> list[tuple[str, str]]:
    return [
        (e["params"]["PinAuthenticationStatus"], e["params"]["PinRetryCounter"])
        for e in events(t, session_uuid)
        if e["event_name"] == "SessionPinAuthenticationStatus"
    ]


@requires_pcaps
@pytest.mark.asyncio
async def test_a_caller_keying_the_first_party_pin_reaches_the_second_party(
    edge: Edge, prompts: PromptServer
) -> None:
    t = edge.t
    s = t.session(
        first_party=A,
        second_party=B,
        is_pin_authentication_required=True,
        first_party_pin="1234",
        second_party_pin="9876",
        pin_prompt_play=prompts.url("pin.wav"),
    )
    callee_sink = RtpSink()
    try:
        callee = Sipp(
            edge.workdir,
            "callee",
            port=edge.trunk_port,
            scenario="media_callee.xml",
            subs={"RTPHOST": "127.0.0.1", "RTPPORT": str(callee_sink.port), "FORMATS": "0 101"},
        )
        await callee.start()
        phone = Sipp(
            edge.workdir,
            "caller",
            scenario=caller_scenario(
                edge.workdir, "media_caller_pin.xml", STRANGER, {"PAUSE": "1500"}
            ),
            remote=("127.0.0.1", edge.sip_port),
            service=t.vn(1),
        )
        await phone.start()
        caller_result = await phone.finish(timeout=40)
        callee_result = await callee.finish(timeout=20)
    finally:
        callee_sink.close()
    ok(caller_result)
    ok(callee_result)
    seen = callee_result.received()
    assert f"INVITE sip:{B}@" in seen and STRANGER not in seen
    assert wait_for(lambda: pin_statuses(t, s["session_uuid"])) == [("success", "1")]
    view = wait_for(
        lambda: (
            (v := t.http.get(t.base + f"Masking/Session/{s['session_uuid']}/").json()["response"])[
                "interaction"
            ]
            and v["interaction"][0]["end_time"]
            and v
        )
    )
    assert view["interaction"][0]["second_party_status"] == "completed"
    assert wait_for(lambda: ports_released(edge), 10)


@pytest.mark.asyncio
async def test_a_wrong_pin_by_sip_info_is_refused_after_the_retries(
    edge: Edge, prompts: PromptServer
) -> None:
    t = edge.t
    s = t.session(
        first_party=A,
        second_party=B,
        is_pin_authentication_required=True,
        first_party_pin="1234",
        second_party_pin="9876",
        pin_prompt_play=prompts.url("pin.wav"),
        incorrect_pin_play=prompts.url("wrong.wav"),
        pin_retry=1,
        pin_retry_wait=5,
    )
    phone = Sipp(
        edge.workdir,
        "caller",
        scenario=caller_scenario(edge.workdir, "media_caller_pin_info.xml", STRANGER),
        remote=("127.0.0.1", edge.sip_port),
        service=t.vn(1),
    )
    await phone.start()
    result = await phone.finish(timeout=40)
    ok(result)  # the caller was hung up on (it waits for our BYE)
    statuses = wait_for(
        lambda: len(pin_statuses(t, s["session_uuid"])) >= 2 and pin_statuses(t, s["session_uuid"])
    )
    assert statuses == [("failed", "1"), ("failed", "2")]
    assert wait_for(lambda: ports_released(edge), 10)


@pytest.mark.asyncio
async def test_a_registered_party_of_a_pin_session_is_let_through_as_authorized_caller(
    edge: Edge, prompts: PromptServer
) -> None:
    t = edge.t
    s = t.session(
        first_party=A,
        second_party=B,
        is_pin_authentication_required=True,
        first_party_pin="1234",
        second_party_pin="9876",
        pin_prompt_play=prompts.url("pin.wav"),
    )
    caller_sink, callee_sink = RtpSink(), RtpSink()
    try:
        caller, callee = await listening_call(
            edge, caller_sink, callee_sink, caller=A, pause_ms=300
        )
    finally:
        caller_sink.close()
        callee_sink.close()
    ok(caller)
    ok(callee)
    assert f"INVITE sip:{B}@" in callee.received()
    assert wait_for(lambda: pin_statuses(t, s["session_uuid"])) == [("AuthorizedCaller", "0")]


@pytest.mark.asyncio
async def test_initiated_call_plays_the_first_party_prompt_before_dialling_the_second(
    edge: Edge, prompts: PromptServer
) -> None:
    t = edge.t
    sink = RtpSink()  # both parties' phones send their media here (one trunk SIPp)
    try:
        trunk = Sipp(
            edge.workdir,
            "trunk",
            port=edge.trunk_port,
            scenario="media_callee.xml",
            subs={"RTPHOST": "127.0.0.1", "RTPPORT": str(sink.port), "FORMATS": "0 101"},
            extra=["-m", "2"],
        )
        await trunk.start()
        await asyncio.sleep(0.3)
        t.session(
            first_party=A,
            second_party=B,
            initiate_call_to_first_party=True,
            call_time_limit=3,
            first_party_play_url=prompts.url("caller.wav"),
            second_party_play_url=prompts.url("callee.wav"),
        )
        result = await trunk.finish(timeout=40)
        time.sleep(0.2)
    finally:
        sink.close()
    ok(result)
    seen = result.received()
    assert seen.index(f"INVITE sip:{A}@") < seen.index(f"INVITE sip:{B}@")
    streams: dict[bytes, list[tuple[float, bytes]]] = {}
    for at, p in sink.arrivals:
        if p[1] & 0x7F in (0, 8):
            streams.setdefault(p[8:12], []).append((at, p))
    assert len(streams) == 2  # one prompt per party, each from its own relay leg
    first, second = sorted(streams.values(), key=lambda s: s[0][0])
    heard_first = decode_stream([p for _t, p in first])
    heard_second = decode_stream([p for _t, p in second])
    assert abs(dominant_hz(heard_first) - 1000) < 20 and abs(len(heard_first) / 8000 - 1.0) < 0.05
    assert abs(dominant_hz(heard_second) - 600) < 20
    assert first[-1][0] < second[0][0]
    assert wait_for(lambda: ports_released(edge), 10)


@pytest.mark.asyncio
async def test_a_busy_callee_after_the_prompt_ends_the_answered_caller(
    edge: Edge, prompts: PromptServer
) -> None:
    t = edge.t
    s = t.session(first_party=A, second_party=B, first_party_play_url=prompts.url("pin.wav"))
    callee = Sipp(
        edge.workdir,
        "callee",
        port=edge.trunk_port,
        scenario="callee_fail.xml",
        subs={"STATUS": "486"},
    )
    await callee.start()
    sink = RtpSink()
    try:
        phone = Sipp(
            edge.workdir,
            "caller",
            scenario=caller_scenario(
                edge.workdir,
                "media_caller_wait_bye.xml",
                A,
                {"RTPHOST": "127.0.0.1", "RTPPORT": str(sink.port)},
            ),
            remote=("127.0.0.1", edge.sip_port),
            service=t.vn(1),
        )
        await phone.start()
        caller_result = await phone.finish(timeout=40)
        callee_result = await callee.finish(timeout=20)
    finally:
        sink.close()
    ok(caller_result)  # answered, heard the prompt, then our BYE
    ok(callee_result)
    view = wait_for(
        lambda: (
            (v := t.http.get(t.base + f"Masking/Session/{s['session_uuid']}/").json()["response"])[
                "interaction"
            ]
            and v["interaction"][0]["end_time"]
            and v
        )
    )
    assert view["interaction"][0]["second_party_status"] == "busy"
    assert view["status"] == "active"
    assert wait_for(lambda: ports_released(edge), 10)


@pytest.mark.asyncio
async def test_a_caller_hanging_up_during_the_prompt_releases_everything(
    edge: Edge, prompts: PromptServer
) -> None:
    t = edge.t
    s = t.session(first_party=A, second_party=B, first_party_play_url=prompts.url("caller.wav"))
    sink = RtpSink()
    try:
        caller, _ = await listening_call(edge, sink, None, caller=A, pause_ms=300)
    finally:
        sink.close()
    ok(caller)
    assert wait_for(lambda: ports_released(edge), 10)
    view = wait_for(
        lambda: (
            (v := t.http.get(t.base + f"Masking/Session/{s['session_uuid']}/").json()["response"])[
                "interaction"
            ]
            and v["interaction"][0]["end_time"]
            and v
        )
    )
    # the other party was never dialled
    assert view["interaction"][0]["second_party_resource_url"] is None
    assert view["status"] == "active"


@requires_pcaps
@pytest.mark.asyncio
async def test_with_prompts_the_recording_starts_at_the_bridge_and_holds_no_prompt(
    edge: Edge, prompts: PromptServer
) -> None:
    t = edge.t
    t.session(
        first_party=A,
        second_party=B,
        record=True,
        record_file_format="wav",
        first_party_play_url=prompts.url("pin.wav"),  # 0.5 s, 800 Hz
        second_party_play_url=prompts.url("wrong.wav"),  # 0.4 s, 400 Hz
    )
    sink = RtpSink()
    try:
        caller, callee = await speech_call(edge, sink)
    finally:
        sink.close()
    ok(caller)
    ok(callee)

    def completed() -> dict | None:
        rows = t.http.get(t.base + "Recording/").json()["objects"]
        return rows[0] if rows and rows[0]["recording_status"] == "completed" else None

    rec = wait_for(completed)
    assert rec
    with wave.open(io.BytesIO(t.http.get(rec["recording_url"]).content)) as w:
        recorded = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    spoken = decode_stream(pcap_rtp(PCAPS / "g711a.pcap"))
    # the speech started at the caller's answer; the file starts at the bridge, after
    # both prompts: it holds the rest of the speech, and only that
    assert 4.0 < len(recorded) / 8000 < len(spoken) / 8000
    # find 3 s of the file in the speech (cross-correlation), then compare sample by sample
    seg = recorded[800 : 800 + 3 * 8000].astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(spoken) + len(seg))))
    xc = np.fft.irfft(
        np.fft.rfft(spoken.astype(np.float64), size) * np.conj(np.fft.rfft(seg, size)), size
    )
    lag = int(np.argmax(xc[: len(spoken) - len(seg) + 1]))
    match = np.corrcoef(seg, spoken[lag : lag + len(seg)].astype(np.float64))[0, 1]
    assert match > 0.99, (lag, match)
    assert lag > 0.5 * 8000  # the start of the speech (during the prompts) is not in it
    assert wait_for(lambda: ports_released(edge), 10)


# --------------------------------------------------------------------------- applications


def rtp_packet(seq: int, payload: bytes, pt: int = 8, ssrc: int = 0x5EED) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 160, ssrc) + payload


def bridged_application_call(edge: Edge) -> tuple[str, int] | None:
    """The relay address facing the dialled party of an answered, bridged application
    call (the test plays that party's phone from its media socket)."""
    from vts_masking.calls.engine import AppCall

    for call in list(edge.engine.b2bua.calls.values()):
        app = call.context
        if isinstance(app, AppCall) and app.media is not None and call.b and call.b.is_up:
            return app.media.relay.b.local_address
    return None


@pytest.mark.asyncio
async def test_an_application_plays_its_prompt_then_dials_and_bridges_through_the_relay(
    tmp_path: Path, prompts: PromptServer
) -> None:
    desk = "+14155550100"
    prompts.files["app.xml"] = (
        f"<Response><Play>{prompts.url('caller.wav')}</Play>"
        f"<Dial timeout='10'><Number>{desk}</Number></Dial></Response>"
    ).encode()
    with running_edge(tmp_path, allow_private_callbacks=True) as edge:
        number = edge.t.vn(1)
        r = edge.t.http.post(
            f"{edge.t.base}Number/{number}/", json={"answer_url": prompts.url("app.xml")}
        )
        assert r.status_code == 200, r.text
        caller_sink, callee_sink = RtpSink(), RtpSink()
        tone = 0.4 * 32767 * np.sin(2 * np.pi * 500 * np.arange(160 * 25) / 8000)
        spoken = g711.encode("PCMA", tone)  # the desk answers PCMA; the caller hears PCMU
        stop = threading.Event()

        def desk_phone_speaks() -> None:
            relay = wait_for(lambda: bridged_application_call(edge), 10)
            if relay is None:
                return
            for i in range(25):  # half a second of 500 Hz from the dialled party
                callee_sink.sock.sendto(rtp_packet(i, spoken[i * 160 : (i + 1) * 160]), relay)
                if stop.wait(0.02):
                    return

        speaker = threading.Thread(target=desk_phone_speaks, daemon=True)
        speaker.start()
        try:
            caller, callee = await listening_call(
                edge, caller_sink, callee_sink, caller=STRANGER, pause_ms=3000
            )
            ok(caller)
            ok(callee)
            stop.set()
            speaker.join(2)
            audio = [(t, p) for t, p in caller_sink.arrivals if p[1] & 0x7F in (0, 8)]
        finally:
            caller_sink.close()
            callee_sink.close()
        # the desk was dialled from the virtual number, never from the caller
        received = callee.received()
        assert f"INVITE sip:{desk}@" in received
        assert f"sip:{number}@" in received.split("From:")[1].split("\n")[0]
        assert STRANGER not in received
        # the caller heard the 1 kHz prompt, then the desk's 500 Hz through the relay
        heard = [g711.decode("PCMU" if p[1] & 0x7F == 0 else "PCMA", p[12:]) for _t, p in audio]
        prompt, desk_audio = np.concatenate(heard[:50]), np.concatenate(heard[50:] or [[0]])
        assert abs(dominant_hz(prompt) - 1000) < 20
        assert len(desk_audio) >= 160 * 20
        assert abs(dominant_hz(desk_audio) - 500) < 20
        assert wait_for(lambda: ports_released(edge), 10)


@pytest.mark.asyncio
async def test_an_application_dial_nobody_answers_goes_on_to_the_next_verbs(
    tmp_path: Path, prompts: PromptServer
) -> None:
    # (a leading <Dial> would be a plain bridge: the <Wait> makes the service answer)
    prompts.files["busy.xml"] = (
        "<Response><Wait length='1'/><Dial><Number>+14155550100</Number></Dial>"
        f"<Play>{prompts.url('wrong.wav')}</Play></Response>"
    ).encode()
    with running_edge(tmp_path, allow_private_callbacks=True) as edge:
        number = edge.t.vn(1)
        r = edge.t.http.post(
            f"{edge.t.base}Number/{number}/", json={"answer_url": prompts.url("busy.xml")}
        )
        assert r.status_code == 200, r.text
        callee = Sipp(
            edge.workdir,
            "callee",
            port=edge.trunk_port,
            scenario="callee_fail.xml",
            subs={"STATUS": "486"},
        )
        await callee.start()
        sink = RtpSink()
        try:
            phone = Sipp(
                edge.workdir,
                "caller",
                scenario=caller_scenario(
                    edge.workdir,
                    "media_caller_wait_bye.xml",
                    STRANGER,
                    {"RTPHOST": "127.0.0.1", "RTPPORT": str(sink.port)},
                ),
                remote=("127.0.0.1", edge.sip_port),
                service=number,
            )
            await phone.start()
            caller_result = await phone.finish(timeout=40)
            callee_result = await callee.finish(timeout=20)
            heard, _t0, _t1 = audio_of(sink)
        finally:
            sink.close()
        ok(caller_result)  # answered, heard "sorry" after the busy desk, then our BYE
        ok(callee_result)
        assert abs(dominant_hz(heard) - 400) < 20
        assert abs(len(heard) / 8000 - 0.4) < 0.05
        assert wait_for(lambda: ports_released(edge), 10)
