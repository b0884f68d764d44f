"""Real phone traffic through the relay: the RTP captures that ship with SIPp.

``g711a.pcap`` is 7 s of real speech (PCMA, 30 ms packets); ``dtmf_2833_*.pcap`` are
RFC 2833/4733 digits as a phone sends them. Skipped when sip-tester is not installed.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from vts_masking.media import g711, rtp
from vts_masking.media.relay import PortAllocator, RelayedCall

CAPTURES = Path("/usr/share/sip-tester")
pytestmark = pytest.mark.skipif(
    not (CAPTURES / "g711a.pcap").exists(), reason="sip-tester captures not installed"
)


def rtp_packets(path: Path) -> list[tuple[float, bytes]]:
    """(capture time, RTP bytes) of a classic little-endian Ethernet/IPv4/UDP pcap."""
    data = path.read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4
    out, off = [], 24
    while off + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        ihl = (frame[14] & 0x0F) * 4
        out.append((sec + usec / 1e6, frame[14 + ihl + 8 :]))
    return out


_OPEN: list[asyncio.BaseTransport] = []


@pytest_asyncio.fixture(autouse=True)
async def _close_phones():
    """Close every test phone's socket when the test ends."""
    yield
    while _OPEN:
        _OPEN.pop().close()
    await asyncio.sleep(0)


class Phone(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.received.append(data)


async def phone() -> Phone:
    loop = asyncio.get_running_loop()
    _, p = await loop.create_datagram_endpoint(Phone, local_addr=("127.0.0.1", 0))
    _OPEN.append(p.transport)
    return p


def allocator() -> PortAllocator:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = min(s.getsockname()[1], 60000) & ~1
    return PortAllocator("127.0.0.1", base, base + 20)


@pytest.mark.asyncio
async def test_real_speech_is_relayed_transcoded_and_recorded_sample_exact(tmp_path):
    speech = rtp_packets(CAPTURES / "g711a.pcap")[:50]  # 1.5 s at 30 ms per packet
    call = RelayedCall(allocator())
    caller, callee = await phone(), await phone()
    call.a.set_remote(*caller.transport.get_extra_info("sockname")[:2], 8)  # caller: PCMA
    call.b.set_remote(*callee.transport.get_extra_info("sockname")[:2], 0)  # callee: PCMU
    call.bridge()
    call.start_recording(tmp_path / "speech.wav")
    loop = asyncio.get_running_loop()
    t0, c0 = loop.time(), speech[0][0]
    lost = 20
    for i, (t, data) in enumerate(speech):
        await asyncio.sleep(max(0.0, (t - c0) - (loop.time() - t0)))  # real-time replay
        if i != lost:
            caller.transport.sendto(data, call.a.local_address)
    await asyncio.sleep(0.1)
    result = await call.stop_recording()
    call.close()

    sent = [rtp.parse(d) for _, d in speech]
    got = [rtp.parse(d) for d in callee.received]
    assert len(got) == len(sent) - 1
    expected_ulaw = [
        g711.transcode("PCMA", "PCMU", p.payload) for j, p in enumerate(sent) if j != lost
    ]
    assert [p.payload for p in got] == expected_ulaw
    assert {p.payload_type for p in got} == {0}

    with wave.open(str(result.path)) as w:
        recorded = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    speech_pcm = g711.decode("PCMA", b"".join(p.payload for p in sent))
    n = len(sent[0].payload)
    # find where the speech starts in the file (leading silence until the first packet)
    start = int(np.flatnonzero(recorded)[0])
    start -= int(np.flatnonzero(speech_pcm)[0])
    body = recorded[start : start + len(speech_pcm)]
    assert np.array_equal(body[: lost * n], speech_pcm[: lost * n])
    assert not body[lost * n : (lost + 1) * n].any()  # the lost packet is silence
    assert np.array_equal(body[(lost + 1) * n :], speech_pcm[(lost + 1) * n :])
    assert abs(result.duration - 1.5) < 0.3


@pytest.mark.parametrize(("name", "digit"), [("5", "5"), ("pound", "#"), ("star", "*")])
@pytest.mark.asyncio
async def test_captured_rfc2833_digit_is_reported_once(name, digit):
    packets = rtp_packets(CAPTURES / f"dtmf_2833_{name}.pcap")
    digits: list[tuple[str, str]] = []
    call = RelayedCall(allocator(), on_dtmf=lambda leg, d: digits.append((leg, d)))
    caller = await phone()
    call.a.set_remote(*caller.transport.get_extra_info("sockname")[:2], 8, 101)
    for _, data in packets:
        caller.transport.sendto(data, call.a.local_address)
    await asyncio.sleep(0.1)
    call.close()
    assert digits == [("A", digit)]
