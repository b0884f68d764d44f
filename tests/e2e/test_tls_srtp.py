"""End to end: an encrypting phone (baresip over TLS with SRTP) calls a virtual number;
the other party is a plain-RTP callee behind the trunk. Tones go both ways through the
relay — decrypted on one leg, in the clear on the other — and the recording holds both.

The callee is a SIPp answering with its media at a socket of the test, which plays a
400 Hz tone into the relay and keeps what comes back; baresip plays 1000 Hz (ausine) and
dumps what it hears. Frequencies are checked, not bytes: SRTP, G.711 and the relay's own
stream headers sit in between."""

from __future__ import annotations

import asyncio
import io
import socket
import struct
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import Sipp, ok, requires_sipp, running_edge, wait_for
from tests.support.baresip import Baresip, requires_baresip
from tests.support.certs import TestCA
from tests.support.live import free_port
from vts_masking.media import g711

pytestmark = [pytest.mark.sipp, requires_sipp, requires_baresip, pytest.mark.timeout(120)]

A = "+14155550101"
B = "+12125550102"


class TonePhone:
    """A plain-RTP phone's media: sends a PCMU tone to ``target`` every 20 ms once told
    where, and keeps every packet it receives (a thread each way)."""

    def __init__(self, hz: float) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.hz = hz
        self.target: tuple[str, int] | None = None
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._rx, self._tx)]
        for th in self._threads:
            th.start()

    def _rx(self) -> None:
        while not self._stop.is_set():
            try:
                self.received.append(self.sock.recv(2048))
            except TimeoutError:
                continue
            except OSError:
                return

    def _tx(self) -> None:
        seq, n, start = 1, 0, time.monotonic()
        while not self._stop.is_set():
            if self.target is None:
                time.sleep(0.01)
                continue
            t = (np.arange(160) + n * 160) / 8000
            pcm = (8000 * np.sin(2 * np.pi * self.hz * t)).astype(np.int16)
            packet = struct.pack("!BBHII", 0x80, 0, seq, n * 160, 0x5EED) + g711.encode("PCMU", pcm)
            try:
                self.sock.sendto(packet, self.target)
            except OSError:
                return
            seq, n = (seq + 1) & 0xFFFF, n + 1
            time.sleep(max(0.0, start + n * 0.02 - time.monotonic()))

    def heard(self) -> np.ndarray:
        audio = [p for p in self.received if len(p) > 12 and p[1] & 0x7F == 0]
        return (
            np.concatenate([g711.decode("PCMU", p[12:]) for p in audio]) if audio else np.zeros(0)
        )

    def close(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(2)
        self.sock.close()


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    spec[: int(50 * len(x) / rate)] = 0  # ignore DC and hum
    return float(np.argmax(spec) * rate / len(x))


def band_energy(x: np.ndarray, rate: int, hz: float) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    lo, hi = int((hz - 30) * len(x) / rate), int((hz + 30) * len(x) / rate)
    return float(spec[lo:hi].max() / (np.median(spec) + 1e-9))


def bridged_relay(edge):  # type: ignore[no-untyped-def]
    for call in list(edge.engine.b2bua.calls.values()):
        media = getattr(call.context, "media", None)
        # both legs up: the caller's answer (and its SRTP keys) was written (this runs on
        # the test's thread while the service's loop works on its own)
        legs_up = call.a is not None and call.a.is_up and call.b is not None and call.b.is_up
        if media is not None and legs_up:
            return media.relay
    return None


@pytest.mark.asyncio
async def test_tls_srtp_phone_and_plain_rtp_callee_hear_each_other_and_are_recorded(
    db_url: str, tmp_path: Path
) -> None:
    ca = TestCA(tmp_path / "pki")
    served = ca.issue("edge")
    tls_port = free_port()
    peer = TonePhone(400)
    try:
        with running_edge(
            db_url,
            tmp_path,
            sip_tls_port=tls_port,
            sip_tls_cert=served.cert,
            sip_tls_key=served.key,
        ) as edge:
            t = edge.t
            t.session(
                first_party=A,
                second_party=B,
                virtual_number=t.vn(1),
                record=True,
                record_file_format="wav",
            )
            callee = Sipp(
                tmp_path,
                "callee",
                port=edge.trunk_port,
                scenario="media_callee.xml",
                subs={"RTPHOST": "127.0.0.1", "RTPPORT": str(peer.port), "FORMATS": "0 101"},
            )
            await callee.start()
            phone = Baresip(
                tmp_path,
                user=A,
                dial=f"sip:{t.vn(1)}@127.0.0.1:{tls_port};transport=tls",
                ca_file=ca.pem.cert,
                tone_hz=1000,
                seconds=7,
            ).start()
            relay = await asyncio.to_thread(wait_for, lambda: bridged_relay(edge), 15.0)
            assert relay is not None, phone.finish(1)
            assert relay.a.srtp is not None and relay.b.srtp is None  # SRTP on A only
            peer.target = relay.b.local_address
            output = await asyncio.to_thread(phone.finish)
            callee_result = await callee.finish()
            ok(callee_result)

            def completed() -> dict | None:
                rows = t.http.get(t.base + "Recording/").json()["objects"]
                return rows[0] if rows and rows[0]["recording_status"] == "completed" else None

            rec = await asyncio.to_thread(wait_for, completed)
            assert rec, output
            wav = t.http.get(rec["recording_url"]).content
    finally:
        peer.close()
    invite = next(b for b in callee_result.received().split("\n\n") if "INVITE sip:" in b)
    assert "crypto" not in invite and "RTP/SAVP" not in invite  # keys never cross
    callee_heard = peer.heard()
    assert len(callee_heard) > 8000, output
    assert abs(dominant_hz(callee_heard, 8000) - 1000) < 25  # baresip's tone, decrypted
    phone_heard, rate = phone.heard()
    assert len(phone_heard) > rate, output
    assert abs(dominant_hz(phone_heard, rate) - 400) < 25  # ours, encrypted for baresip
    with wave.open(io.BytesIO(wav)) as w:
        recorded = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert band_energy(recorded, 8000, 1000) > 20 and band_energy(recorded, 8000, 400) > 20
