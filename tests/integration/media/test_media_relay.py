"""The RTP relay on real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest
import pytest_asyncio

from vts_masking.media import g711, rtp
from vts_masking.media.relay import NoPortsAvailable, PortAllocator, RelayedCall
from vts_masking.media.rtp import RtpPacket, TelephoneEvent


def free_even_range(n_ports: int = 40) -> tuple[int, int]:
    """An even port range above a kernel-chosen free port (the allocator skips busy ones)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
    base = min(base, 60000) & ~1
    return base, base + n_ports - 1


_OPEN: list[asyncio.BaseTransport] = []


@pytest_asyncio.fixture(autouse=True)
async def _close_phones():
    """Close every test phone's socket when the test ends."""
    yield
    while _OPEN:
        _OPEN.pop().close()
    await asyncio.sleep(0)


class Phone(asyncio.DatagramProtocol):
    """A test phone: one UDP socket that records what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[float, bytes]] = []
        self.transport: asyncio.DatagramTransport
        self.arrived = asyncio.Event()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.received.append((asyncio.get_running_loop().time(), data))
        self.arrived.set()

    @property
    def addr(self) -> tuple[str, int]:
        return self.transport.get_extra_info("sockname")[:2]

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        self.transport.sendto(data, to)

    def packets(self) -> list[rtp.RtpPacket]:
        return [rtp.parse(d) for _, d in self.received]

    async def wait_for(self, n: int, timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.received) < n:
                self.arrived.clear()
                await self.arrived.wait()


async def phone() -> Phone:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(Phone, local_addr=("127.0.0.1", 0))
    _OPEN.append(proto.transport)
    return proto


@pytest.fixture
def allocator() -> PortAllocator:
    lo, hi = free_even_range()
    return PortAllocator("127.0.0.1", lo, hi)


def audio_packet(seq: int, payload: bytes, pt: int = 0, ssrc: int = 0x1111) -> bytes:
    return RtpPacket(pt, seq, seq * 160, ssrc, payload).build()


async def settle() -> None:
    await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_bridged_call_forwards_payloads_both_ways_in_a_stream_of_ours(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 0)
    call.bridge()
    sent_a = [audio_packet(i, bytes([i]) * 160) for i in range(5)]
    sent_b = [audio_packet(i, bytes([100 + i]) * 160, ssrc=0x2222) for i in range(5)]
    for d in sent_a:
        pa.send(d, call.a.local_address)
    for d in sent_b:
        pb.send(d, call.b.local_address)
    await pb.wait_for(5)
    await pa.wait_for(5)
    for sent, got in ((sent_a, pb.packets()), (sent_b, pa.packets())):
        assert [p.payload for p in got] == [rtp.parse(d).payload for d in sent]
        assert len({p.ssrc for p in got}) == 1 and got[0].ssrc not in (0x1111, 0x2222)
        assert [rtp.seq_diff(p.sequence, got[0].sequence) for p in got] == [0, 1, 2, 3, 4]
        assert [rtp.ts_diff(p.timestamp, got[0].timestamp) for p in got] == [
            0,
            160,
            320,
            480,
            640,
        ]
    assert pa.packets()[0].ssrc != pb.packets()[0].ssrc  # one stream of ours per leg
    call.close()


@pytest.mark.asyncio
async def test_padding_extension_and_csrc_of_a_phone_never_reach_the_other(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 0)
    call.bridge()
    marker = b"LEAKLEAK"
    pkt = RtpPacket(
        0,
        10,
        1600,
        0xABCDEF01,
        b"\x55" * 160,
        csrc=(0x4C45414B, 0x12345678),
        extension=(0xBEDE, marker),
        padding=8,
    ).build()
    pa.send(pkt[:-8] + marker[:7] + bytes([8]), call.a.local_address)  # padding says LEAK
    await pb.wait_for(1)
    ((_, data),) = pb.received
    assert data[0] == 0x80 and len(data) == 12 + 160  # V=2, no P/X/CC: header + payload
    assert marker[:4] not in data and (0x4C45414B).to_bytes(4, "big") not in data
    assert (0xABCDEF01).to_bytes(4, "big") not in data
    call.close()


@pytest.mark.asyncio
async def test_payload_types_not_negotiated_are_dropped(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0, 101)
    call.b.set_remote(*pb.addr, 0, 101)
    call.bridge()
    pa.send(audio_packet(1, b"\x40", pt=13), call.a.local_address)  # comfort noise
    rtcp_sr = bytes((0x80, 200, 0, 6)) + (0x1111).to_bytes(4, "big") + bytes(20)
    pa.send(rtcp_sr, call.a.local_address)  # RTCP sent to the RTP port
    pa.send(audio_packet(2, b"\x01" * 160), call.a.local_address)
    await pb.wait_for(1)
    await settle()
    assert [p.payload_type for p in pb.packets()] == [0]
    call.close()


@pytest.mark.asyncio
async def test_a_new_source_continues_our_numbering(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 0)
    call.bridge()
    pa.send(audio_packet(100, b"\x01" * 160, ssrc=1), call.a.local_address)
    await pb.wait_for(1)
    await asyncio.sleep(0.04)
    pa.send(audio_packet(7, b"\x02" * 160, ssrc=2), call.a.local_address)  # phone restarted
    await pb.wait_for(2)
    first, second = pb.packets()
    assert first.ssrc == second.ssrc
    assert rtp.seq_diff(second.sequence, first.sequence) == 1
    assert rtp.ts_diff(second.timestamp, first.timestamp) >= 160
    assert second.marker
    call.close()


@pytest.mark.asyncio
async def test_latching_sends_to_the_real_source_not_the_sdp_address(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    decoy = await phone()  # the address the SDP claims (think: private IP behind NAT)
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*decoy.addr, 0)
    call.bridge()
    pb.send(audio_packet(1, b"\xff" * 160, ssrc=2), call.b.local_address)  # B latches
    await settle()
    pa.send(audio_packet(1, b"\x01" * 160), call.a.local_address)
    await pb.wait_for(1)
    assert decoy.received == []
    assert call.b.latched == pb.addr
    call.close()


@pytest.mark.asyncio
async def test_sdp_address_is_used_until_the_first_packet_arrives(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 0)
    call.bridge()
    pa.send(audio_packet(1, b"\x01" * 160), call.a.local_address)
    await pb.wait_for(1)
    assert call.b.latched is None
    call.close()


@pytest.mark.asyncio
async def test_packets_from_a_stranger_after_latching_are_dropped(allocator):
    call = RelayedCall(allocator, relatch_after=30.0)
    pa, pb, stranger = await phone(), await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 0)
    call.bridge()
    pa.send(audio_packet(1, b"\x01" * 160), call.a.local_address)
    await pb.wait_for(1)
    stranger.send(audio_packet(2, b"\x02" * 160, ssrc=9), call.a.local_address)
    await settle()
    assert len(pb.received) == 1
    assert call.a.dropped == 1
    call.close()


@pytest.mark.asyncio
async def test_not_bridged_means_nothing_is_forwarded(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 0)
    pa.send(audio_packet(1, b"\x01" * 160), call.a.local_address)
    await settle()
    assert pb.received == []
    assert call.a.rx_packets == 1
    call.close()


@pytest.mark.asyncio
async def test_pcmu_to_pcma_transcoding_preserves_the_audio(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)  # A speaks µ-law
    call.b.set_remote(*pb.addr, 8)  # B speaks A-law
    call.bridge()
    t = np.arange(160 * 4) / 8000
    voice = (9000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    ulaw = g711.encode("PCMU", voice)
    for i in range(4):
        pa.send(audio_packet(i, ulaw[i * 160 : (i + 1) * 160], pt=0), call.a.local_address)
    await pb.wait_for(4)
    got = pb.packets()
    assert {p.payload_type for p in got} == {8}
    assert [rtp.seq_diff(p.sequence, got[0].sequence) for p in got] == [0, 1, 2, 3]
    alaw = b"".join(p.payload for p in got)
    assert alaw == g711.transcode("PCMU", "PCMA", ulaw)
    # what B hears is the voice A sent, to G.711 quality (two quantisations: SNR > 30 dB)
    decoded = g711.decode("PCMA", alaw).astype(float)
    noise = decoded - voice
    assert 10 * np.log10(np.sum(voice.astype(float) ** 2) / np.sum(noise**2)) > 30
    call.close()


@pytest.mark.asyncio
async def test_pcma_to_pcmu_transcoding_other_direction(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 8)
    call.bridge()
    alaw = bytes(range(96, 256))
    pb.send(RtpPacket(8, 7, 1120, 5, alaw, marker=True).build(), call.b.local_address)
    await pa.wait_for(1)
    (p,) = pa.packets()
    assert (p.payload_type, p.marker) == (0, True) and p.ssrc != 5
    assert p.payload == g711.transcode("PCMA", "PCMU", alaw)
    call.close()


@pytest.mark.asyncio
async def test_dtmf_events_are_reported_once_and_forwarded_with_peer_pt(allocator):
    digits: list[tuple[str, str]] = []
    call = RelayedCall(allocator, on_dtmf=lambda leg, d: digits.append((leg, d)))
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0, telephone_event_pt=101)
    call.b.set_remote(*pb.addr, 0, telephone_event_pt=96)
    call.bridge()
    seq = 0
    for ts, ev in ((1000, 4), (2000, 2), (3000, 11)):
        for end, dur in ((False, 160), (False, 320), (True, 480), (True, 480), (True, 480)):
            payload = TelephoneEvent(ev, end=end, duration=dur).build()
            pa.send(RtpPacket(101, seq, ts, 3, payload).build(), call.a.local_address)
            seq += 1
    await pb.wait_for(15)
    assert digits == [("A", "4"), ("A", "2"), ("A", "#")]
    assert {p.payload_type for p in pb.packets()} == {96}
    call.close()


@pytest.mark.asyncio
async def test_dtmf_reported_but_not_forwarded_when_peer_has_no_telephone_event(allocator):
    digits: list[str] = []
    call = RelayedCall(allocator, on_dtmf=lambda leg, d: digits.append(d))
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0, telephone_event_pt=101)
    call.b.set_remote(*pb.addr, 0)
    call.bridge()
    pa.send(RtpPacket(101, 1, 10, 3, TelephoneEvent(7).build()).build(), call.a.local_address)
    await settle()
    assert digits == ["7"]
    assert pb.received == []
    call.close()


@pytest.mark.asyncio
async def test_prompt_playback_is_paced_continuous_and_decodable(allocator):
    call = RelayedCall(allocator)
    pa = await phone()
    call.a.set_remote(*pa.addr, 8)
    t = np.arange(160 * 10) / 8000
    voice = (8000 * np.sin(2 * np.pi * 500 * t)).astype(np.int16)
    alaw = g711.encode("PCMA", voice)
    frames = [alaw[i * 160 : (i + 1) * 160] for i in range(10)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await call.play("A", frames) is True
    elapsed = loop.time() - started
    await pa.wait_for(10)
    got = pa.packets()
    assert len(got) == 10
    assert [p.marker for p in got] == [True] + [False] * 9
    assert len({p.ssrc for p in got}) == 1 and {p.payload_type for p in got} == {8}
    assert [rtp.seq_diff(p.sequence, got[0].sequence) for p in got] == list(range(10))
    assert [rtp.ts_diff(p.timestamp, got[0].timestamp) for p in got] == [160 * i for i in range(10)]
    assert np.array_equal(
        g711.decode("PCMA", b"".join(p.payload for p in got)), g711.decode("PCMA", alaw)
    )
    # paced, not burst: 10 frames take about 200 ms (generous bounds)
    assert 0.15 < elapsed < 1.5
    arrivals = [a for a, _ in pa.received]
    assert arrivals[-1] - arrivals[0] > 0.12
    call.close()


@pytest.mark.asyncio
async def test_second_prompt_continues_sequence_and_timestamp(allocator):
    call = RelayedCall(allocator)
    pa = await phone()
    call.a.set_remote(*pa.addr, 0)
    frames = [b"\xff" * 160] * 3
    await call.play("A", frames)
    await asyncio.sleep(0.1)
    await call.play("A", frames)
    await pa.wait_for(6)
    got = pa.packets()
    assert len({p.ssrc for p in got}) == 1
    assert [rtp.seq_diff(p.sequence, got[0].sequence) for p in got] == list(range(6))
    assert [p.marker for p in got] == [True, False, False, True, False, False]
    gap = rtp.ts_diff(got[3].timestamp, got[2].timestamp)
    assert 160 + 0.08 * 8000 <= gap < 160 + 2.0 * 8000  # the silence is in the timestamps
    call.close()


@pytest.mark.asyncio
async def test_stopping_a_prompt_resolves_false(allocator):
    call = RelayedCall(allocator)
    pa = await phone()
    call.a.set_remote(*pa.addr, 0)
    pb_ = call.play("A", [b"\xff" * 160] * 500)
    await asyncio.sleep(0.05)
    call.stop_playing("A")
    assert await pb_ is False
    call.close()


@pytest.mark.asyncio
async def test_prompt_owns_the_leg_output_while_bridged(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 0)
    call.bridge()
    playing = call.play("A", [b"\x55" * 160] * 5)
    pb.send(audio_packet(1, b"\x01" * 160, ssrc=2), call.b.local_address)
    await playing
    await settle()
    assert all(p.payload == b"\x55" * 160 for p in pa.packets())
    pb.send(audio_packet(2, b"\x02" * 160, ssrc=2), call.b.local_address)
    await pa.wait_for(6)
    assert pa.packets()[-1].payload == b"\x02" * 160
    call.close()


@pytest.mark.asyncio
async def test_prompt_and_forwarded_audio_are_one_stream_of_ours(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 0)
    call.bridge()
    await call.play("A", [b"\x55" * 160] * 3)
    pb.send(audio_packet(40, b"\x02" * 160, ssrc=2), call.b.local_address)
    await pa.wait_for(4)
    got = pa.packets()
    assert len({p.ssrc for p in got}) == 1 and got[0].ssrc != 2
    assert [rtp.seq_diff(p.sequence, got[0].sequence) for p in got] == [0, 1, 2, 3]
    assert rtp.ts_diff(got[3].timestamp, got[2].timestamp) >= 160 and got[3].marker
    call.close()


@pytest.mark.asyncio
async def test_close_resolves_running_prompt_false(allocator):
    call = RelayedCall(allocator)
    pa = await phone()
    call.a.set_remote(*pa.addr, 0)
    playing = call.play("A", [b"\xff" * 160] * 500)
    call.close()
    assert await playing is False


@pytest.mark.asyncio
async def test_silent_leg_is_reported_inactive_once(allocator):
    dead: list[str] = []
    call = RelayedCall(allocator, inactivity_timeout=0.2, on_inactive=dead.append)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 0)
    pa.send(audio_packet(1, b"\xff" * 160), call.a.local_address)
    await asyncio.sleep(0.6)
    assert dead == ["A"]  # B never sent and was never armed
    call.close()


@pytest.mark.asyncio
async def test_armed_leg_that_never_sends_is_reported_inactive(allocator):
    dead: list[str] = []
    call = RelayedCall(allocator, inactivity_timeout=0.2, on_inactive=dead.append)
    call.arm_inactivity("B")
    await asyncio.sleep(0.5)
    assert dead == ["B"]
    call.close()


@pytest.mark.asyncio
async def test_close_releases_every_port(allocator):
    calls = [RelayedCall(allocator) for _ in range(5)]
    ports = [c.a.local_port for c in calls] + [c.b.local_port for c in calls]
    assert allocator.in_use == 10
    assert all(p % 2 == 0 for p in ports) and len(set(ports)) == 10
    for c in calls:
        c.close()
        c.close()  # idempotent
    assert allocator.in_use == 0
    for port in ports:  # really free: RTP and RTCP ports can be bound again
        for p in (port, port + 1):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", p))


def test_allocator_skips_ports_used_by_others_and_reports_exhaustion():
    lo, _ = free_even_range()
    alloc = PortAllocator("127.0.0.1", lo, lo + 5)  # 3 even ports: lo, lo+2, lo+4
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", lo + 3))  # RTCP of lo+2 taken
        a = alloc.allocate()
        b = alloc.allocate()
        assert {a.port, b.port} == {lo, lo + 4}
        with pytest.raises(NoPortsAvailable):
            alloc.allocate()
    alloc.release(a)
    alloc.release(b)
    assert alloc.in_use == 0


def test_allocator_hands_ports_out_round_robin():
    lo, _ = free_even_range()
    alloc = PortAllocator("127.0.0.1", lo, lo + 7)
    first = alloc.allocate()
    alloc.release(first)
    second = alloc.allocate()
    assert second.port != first.port
    alloc.release(second)


@pytest.mark.asyncio
async def test_recording_through_the_relay_holds_both_voices(allocator, tmp_path):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 8)
    call.bridge()
    call.start_recording(tmp_path / "call.wav", "wav")
    n = 10
    a_voice = np.full(160 * n, 4000, dtype=np.int16)
    b_voice = np.full(160 * n, -2000, dtype=np.int16)
    ua, ab = g711.encode("PCMU", a_voice), g711.encode("PCMA", b_voice)
    for i in range(n):
        pa.send(audio_packet(i, ua[i * 160 : (i + 1) * 160], pt=0), call.a.local_address)
        if i != 4:  # one B packet lost
            pb.send(
                audio_packet(i, ab[i * 160 : (i + 1) * 160], pt=8, ssrc=2), call.b.local_address
            )
        await asyncio.sleep(0.02)
    await settle()
    result = await call.stop_recording()
    call.close()
    assert result is not None and 0.15 < result.duration < 0.6
    import wave

    with wave.open(str(result.path)) as w:
        got = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    va = int(g711.decode("PCMU", ua[:1])[0])
    vb = int(g711.decode("PCMA", ab[:1])[0])
    values, counts = np.unique(got, return_counts=True)
    common = dict(zip(values.tolist(), counts.tolist(), strict=True))
    # most of the file is both voices together; the lost B packet leaves A alone for 160
    assert common.get(va + vb, 0) > 160 * 5
    assert common.get(va, 0) >= 160


@pytest.mark.asyncio
async def test_sdp_address_is_the_advertised_one():
    lo, hi = free_even_range()
    alloc = PortAllocator("127.0.0.1", lo, hi, advertise="203.0.113.5")
    call = RelayedCall(alloc)
    assert call.a.local_address == ("203.0.113.5", call.a.local_port)
    assert call.b.local_address[0] == "203.0.113.5"
    call.close()


def event_packets(digit_code: int, ts: int, seq0: int, pt: int = 101) -> list[bytes]:
    out = []
    for j, (end, dur) in enumerate(((False, 160), (False, 320), (True, 480), (True, 480))):
        payload = TelephoneEvent(digit_code, end=end, duration=dur).build()
        out.append(RtpPacket(pt, seq0 + j, ts, 3, payload, marker=j == 0).build())
    return out


@pytest.mark.asyncio
async def test_collect_pin_from_rtp_events_and_sip_info_digits(allocator):
    from vts_masking.media.dtmf import PinCollector, PinResult

    call = RelayedCall(allocator)
    pa = await phone()
    call.a.set_remote(*pa.addr, 0, telephone_event_pt=101)
    pending = call.collect("A", PinCollector(max_length=8, inter_digit_timeout=2.0))
    for k, code in enumerate((1, 2)):
        for d in event_packets(code, 1000 * (k + 1), 10 * k):
            pa.send(d, call.a.local_address)
    await settle()
    call.inject_digit("A", "3")  # arrived as SIP INFO
    for d in event_packets(11, 9000, 100):  # '#'
        pa.send(d, call.a.local_address)
    assert await asyncio.wait_for(pending, 2.0) == PinResult("123", "terminator")
    call.close()


@pytest.mark.asyncio
async def test_collect_pin_times_out_on_the_loop_clock(allocator):
    from vts_masking.media.dtmf import PinCollector, PinResult

    call = RelayedCall(allocator)
    pending = call.collect("B", PinCollector(first_digit_timeout=0.3, inter_digit_timeout=0.2))
    await asyncio.sleep(0.1)
    call.inject_digit("B", "7")
    assert await asyncio.wait_for(pending, 2.0) == PinResult("7", "timeout")
    call.close()


@pytest.mark.asyncio
async def test_closing_the_call_fails_a_pending_collection(allocator):
    from vts_masking.media.dtmf import PinCollector
    from vts_masking.media.relay import CallClosed

    call = RelayedCall(allocator)
    pending = call.collect("A", PinCollector())
    call.close()
    with pytest.raises(CallClosed):
        await pending


@pytest.mark.asyncio
async def test_digits_of_the_other_leg_are_not_collected(allocator):
    from vts_masking.media.dtmf import PinCollector, PinResult

    call = RelayedCall(allocator)
    pending = call.collect("A", PinCollector(max_length=1, first_digit_timeout=0.5))
    call.inject_digit("B", "9")
    assert await asyncio.wait_for(pending, 2.0) == PinResult("", "timeout")
    call.close()


@pytest.mark.asyncio
async def test_garbage_and_malformed_packets_are_dropped_without_harm(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 8)  # transcoding path parses the header
    call.bridge()
    pa.send(b"hello", call.a.local_address)
    pa.send(b"\x00" * 40, call.a.local_address)  # RTP version 0
    # extension header claims more words than the packet holds
    pa.send(bytes([0x90, 0]) + bytes(10) + b"\x00\x00\xff\xff" + b"\xff" * 8, call.a.local_address)
    pa.send(audio_packet(1, b"\xff" * 160), call.a.local_address)
    await pb.wait_for(1)
    await settle()
    assert len(pb.received) == 1 and call.a.dropped == 3
    call.close()


@pytest.mark.asyncio
async def test_relatches_when_the_latched_source_went_quiet(allocator):
    call = RelayedCall(allocator, relatch_after=0.1)
    pa, pb, moved = await phone(), await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 0)
    call.bridge()
    pa.send(audio_packet(1, b"\x01" * 160), call.a.local_address)
    await settle()
    await asyncio.sleep(0.15)  # A's NAT binding changes: same phone, new source port
    moved.send(audio_packet(2, b"\x02" * 160), call.a.local_address)
    await settle()
    assert call.a.latched == moved.addr
    pb.send(audio_packet(1, b"\x03" * 160, ssrc=2), call.b.local_address)
    await moved.wait_for(1)
    assert pa.received == []
    call.close()


@pytest.mark.asyncio
async def test_new_sdp_address_drops_the_latch(allocator):
    call = RelayedCall(allocator)
    pa, pa2 = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    pa.send(audio_packet(1, b"\x01" * 160), call.a.local_address)
    await settle()
    assert call.a.latched == pa.addr
    call.a.set_remote(*pa2.addr, 0)  # re-INVITE moved the media
    assert call.a.latched is None and call.a.destination == pa2.addr
    call.close()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
@pytest.mark.asyncio
async def test_relay_works_over_ipv6():
    lo, hi = free_even_range()
    alloc = PortAllocator("::1", lo, hi)
    call = RelayedCall(alloc)
    loop = asyncio.get_running_loop()
    _, pa = await loop.create_datagram_endpoint(Phone, local_addr=("::1", 0))
    _, pb = await loop.create_datagram_endpoint(Phone, local_addr=("::1", 0))
    _OPEN.extend([pa.transport, pb.transport])
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 0)
    call.bridge()
    pa.send(audio_packet(1, b"\x01" * 160), call.a.local_address)
    await pb.wait_for(1)
    call.close()
    assert alloc.in_use == 0


@pytest.mark.asyncio
async def test_a_failing_tap_is_removed_and_audio_keeps_flowing(allocator):
    call = RelayedCall(allocator)
    pa, pb = await phone(), await phone()
    call.a.set_remote(*pa.addr, 0)
    call.b.set_remote(*pb.addr, 0)
    call.bridge()
    seen: list[tuple[str, int, float]] = []

    def broken(leg, data, arrival):
        raise RuntimeError("boom")

    call.add_tap(broken)
    call.add_tap(lambda leg, data, arrival: seen.append((leg, len(data), arrival)))
    for i in range(3):
        pa.send(audio_packet(i, b"\xff" * 160), call.a.local_address)
    await pb.wait_for(3)
    assert [s[:2] for s in seen] == [("A", 172)] * 3
    assert seen[0][2] <= seen[1][2] <= seen[2][2]
    call.close()
