"""Recorder: timeline placement, gaps, mixing, WAV/MP3 output (content, not size)."""

import io
import wave

import numpy as np
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from vts_masking.media import g711
from vts_masking.media.recorder import CallRecorder
from vts_masking.media.rtp import RtpPacket, TelephoneEvent

T0 = 1000.0


def tone(freq: float, n: int, amp: int = 8000, phase0: int = 0) -> np.ndarray:
    t = np.arange(phase0, phase0 + n) / 8000
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def packets(samples: np.ndarray, codec="PCMU", ssrc=1, ts0=5000, seq0=0, pt=None):
    """(index, packet bytes) for each 160-sample frame."""
    pt = g711.PT_BY_CODEC[codec] if pt is None else pt
    out = []
    for i in range(len(samples) // 160):
        payload = g711.encode(codec, samples[i * 160 : (i + 1) * 160])
        out.append((i, RtpPacket(pt, seq0 + i, ts0 + 160 * i, ssrc, payload).build()))
    return out


def feed_stream(rec, direction, samples, start_delay=0.0, skip=(), jitter=None, **kw):
    for i, data in packets(samples, **kw):
        if i in skip:
            continue
        arrival = T0 + start_delay + i * 0.02 + (jitter[i] if jitter is not None else 0)
        rec.feed(direction, data, arrival)


def test_single_direction_is_recorded_sample_exact():
    rec = CallRecorder(start=T0)
    x = tone(440, 1600)
    feed_stream(rec, "A", x)
    out = rec.render()
    expected = g711.decode("PCMU", g711.encode("PCMU", x))
    assert np.array_equal(out, expected)


def test_lost_packets_become_silence_of_their_length():
    rec = CallRecorder(start=T0)
    x = tone(440, 1600, amp=10000)
    feed_stream(rec, "A", x, skip={3, 4})
    out = rec.render()
    assert len(out) == 1600
    assert not out[480:800].any()
    assert np.abs(out[:480]).max() > 9000
    assert np.abs(out[800:]).max() > 9000


def test_jittered_and_reordered_arrivals_are_placed_by_timestamp():
    rec = CallRecorder(start=T0)
    x = tone(300, 3200)
    rng = np.random.default_rng(1)
    jitter = rng.uniform(0, 0.015, size=20)
    pkts = packets(x)
    order = list(range(20))
    order[5], order[6] = order[6], order[5]
    for i in order:
        rec.feed("A", pkts[i][1], T0 + i * 0.02 + jitter[i])
    out = rec.render()
    expected = g711.decode("PCMU", g711.encode("PCMU", x))
    # the stream is anchored on its first packet's arrival; everything after by timestamp
    shift = round(jitter[0] * 8000)
    assert np.array_equal(out[shift : shift + len(expected)], expected)


def test_two_directions_are_aligned_by_arrival_and_mixed():
    rec = CallRecorder(start=T0)
    a = tone(440, 800, amp=5000)
    b = tone(1000, 800, amp=5000)
    feed_stream(rec, "A", a, ts0=123)
    # B starts 0.5 s later with an unrelated timestamp base and the other law
    feed_stream(rec, "B", b, start_delay=0.5, codec="PCMA", ts0=987654, ssrc=2)
    out = rec.render().astype(np.int32)
    da = g711.decode("PCMU", g711.encode("PCMU", a)).astype(np.int32)
    db = g711.decode("PCMA", g711.encode("PCMA", b)).astype(np.int32)
    assert len(out) == 4000 + 800
    assert np.array_equal(out[:800], da)
    assert not out[800:4000].any()
    assert np.array_equal(out[4000:4800], db)


def test_overlapping_loud_directions_clip_instead_of_wrapping():
    rec = CallRecorder(start=T0)
    loud = np.full(160, 30000, dtype=np.int16)
    feed_stream(rec, "A", loud)
    feed_stream(rec, "B", loud, ssrc=2)
    out = rec.render()
    assert out.min() > 0 and out.max() == 32767


def test_non_audio_packets_are_ignored():
    rec = CallRecorder(start=T0)
    ev = RtpPacket(101, 1, 0, 1, TelephoneEvent(5).build()).build()
    rec.feed("A", ev, T0 + 0.02)
    rec.feed("A", b"junk", T0 + 0.02)
    assert len(rec.render()) == 0


def test_dynamic_payload_type_mapping():
    rec = CallRecorder(start=T0)
    rec.set_codec("A", 96, "PCMA")
    x = tone(440, 160)
    feed_stream(rec, "A", x, codec="PCMA", pt=96)
    assert np.array_equal(rec.render(), g711.decode("PCMA", g711.encode("PCMA", x)))


def test_new_ssrc_is_anchored_on_arrival_time():
    rec = CallRecorder(start=T0)
    x = tone(440, 160)
    feed_stream(rec, "A", x, ssrc=1, ts0=0)
    feed_stream(rec, "A", x, ssrc=2, ts0=999999, start_delay=1.0)
    out = rec.render()
    assert len(out) == 8000 + 160
    assert not out[160:8000].any()


def test_timestamp_jump_is_reanchored_on_arrival_time():
    rec = CallRecorder(start=T0)
    x = tone(440, 320)
    p = packets(x, ts0=0)
    rec.feed("A", p[0][1], T0)
    jumped = RtpPacket(0, 1, 10_000_000, 1, g711.encode("PCMU", x[160:])).build()
    rec.feed("A", jumped, T0 + 0.02)
    assert len(rec.render()) == 320


def test_packets_after_stop_are_ignored():
    rec = CallRecorder(start=T0)
    x = tone(440, 320)
    p = packets(x)
    rec.feed("A", p[0][1], T0)
    rec.stop(T0 + 0.01)
    rec.feed("A", p[1][1], T0 + 0.02)
    assert len(rec.render()) == 160


def test_wav_file_holds_the_mixed_samples(tmp_path):
    rec = CallRecorder(start=T0)
    x = tone(440, 1600)
    feed_stream(rec, "A", x, skip={2})
    result = rec.write(tmp_path / "rec" / "call.wav", "wav")
    assert result.duration == 0.2
    with wave.open(str(result.path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        got = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    expected = g711.decode("PCMU", g711.encode("PCMU", x))
    expected[320:480] = 0
    assert np.array_equal(got, expected)
    assert not list(tmp_path.glob("rec/*.part"))


def _long_call(rec: CallRecorder, seconds: int, lost: set[int]) -> np.ndarray:
    """Feed a two-direction call of ``seconds`` (simulated arrival times); return the
    expected mix."""
    n = seconds * 50
    a = tone(440, n * 160, amp=6000)
    b = tone(700, n * 160, amp=6000)
    pa = packets(a, ts0=0xFFFFF000)  # wraps during the call
    pb = packets(b, codec="PCMA", ssrc=2, ts0=77)
    for (i, da), (_, db) in zip(pa, pb, strict=True):
        if i not in lost:
            rec.feed("A", da, T0 + i * 0.02)
        rec.feed("B", db, T0 + 0.1 + i * 0.02 + (0.03 if i % 7 == 3 else 0))
    ea = g711.decode("PCMU", g711.encode("PCMU", a)).astype(np.int32)
    for i in lost:
        ea[i * 160 : (i + 1) * 160] = 0
    eb = g711.decode("PCMA", g711.encode("PCMA", b)).astype(np.int32)
    mix = np.zeros(n * 160 + 800, dtype=np.int32)
    mix[: len(ea)] += ea
    mix[800 : 800 + len(eb)] += eb
    return np.clip(mix, -32768, 32767).astype(np.int16)


def test_long_call_is_spooled_to_disk_and_comes_back_exact(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    rec = CallRecorder(start=T0, settle=1.0, spool_block=2.0, spool_dir=spool)
    expected = _long_call(rec, 30, lost={100, 101, 1000})
    # memory holds only the unsettled tail, not 30 s of audio per direction
    held = sum(len(c[2]) for d in rec._dirs.values() for c in d.chunks)
    assert held < 4 * 8000 * 2
    assert rec._spool is not None
    out = rec.render()
    assert np.array_equal(out, expected)


def test_spooled_recording_writes_the_same_wav(tmp_path):
    rec = CallRecorder(start=T0, settle=1.0, spool_block=1.0)
    expected = _long_call(rec, 12, lost={5})
    result = rec.write(tmp_path / "long.wav")
    with wave.open(str(result.path)) as w:
        got = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert np.array_equal(got, expected)
    assert result.duration == len(expected) / 8000


def test_discard_drops_the_spool():
    rec = CallRecorder(start=T0, settle=1.0, spool_block=1.0)
    _long_call(rec, 5, lost=set())
    assert rec._spool is not None
    rec.discard()
    assert rec._spool is None and len(rec.render()) >= 0


def _dominant_freq(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * 8000 / len(x))


def test_mp3_file_decodes_to_the_recorded_tone(tmp_path):
    rec = CallRecorder(start=T0)
    x = tone(440, 8000, amp=10000)
    feed_stream(rec, "A", x)
    result = rec.write(tmp_path / "call.mp3", "mp3")
    assert result.format == "mp3" and result.duration == 1.0
    y, sr = sf.read(io.BytesIO(result.path.read_bytes()), dtype="float32")
    assert sr == 8000
    assert abs(_dominant_freq(y[1000:7000]) - 440) < 5
    assert 0.2 < np.abs(y).max() < 0.4


@settings(max_examples=60, deadline=None)
@given(
    lost=st.sets(st.integers(1, 149), max_size=20),
    jitter=st.lists(st.floats(0, 0.06), min_size=150, max_size=150),
    ts0=st.integers(0, 0xFFFFFFFF),
    swaps=st.lists(st.integers(1, 148), max_size=5),
    spool=st.booleans(),
)
def test_any_loss_jitter_and_reordering_give_exact_audio_and_silent_gaps(
    lost, jitter, ts0, swaps, spool
):
    x = tone(350, 150 * 160, amp=12000)
    pkts = packets(x, ts0=ts0)
    order = list(range(150))
    for i in swaps:
        order[i], order[i + 1] = order[i + 1], order[i]
    rec = CallRecorder(start=T0, settle=1.0, spool_block=0.02) if spool else CallRecorder(T0)
    for i in order:
        if i not in lost:
            rec.feed("A", pkts[i][1], T0 + 0.3 + i * 0.02 + jitter[i])
    # spooling, when on, has moved the settled head to disk by now
    out = rec.render()
    first = min(i for i in order if i not in lost)
    first_fed = next(i for i in order if i not in lost)
    # anchored on the first packet *fed*; everything else by timestamp (ts may wrap)
    shift = int((0.3 + first_fed * 0.02 + jitter[first_fed]) * 8000 + 0.5) - first_fed * 160
    ref = g711.decode("PCMU", g711.encode("PCMU", x))
    for i in range(first, 150):
        seg = out[shift + i * 160 : shift + (i + 1) * 160]
        if i in lost:
            assert not seg.any()
        else:
            assert np.array_equal(seg, ref[i * 160 : (i + 1) * 160])
