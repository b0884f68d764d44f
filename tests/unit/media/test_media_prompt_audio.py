"""Prompt preparation without the network: decode, downmix, resample, frame."""

import io

import lameenc
import numpy as np
import pytest
import soundfile as sf

from vts_masking.media import g711
from vts_masking.media.prompt import Prompt, resample, to_frames


def tone(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(x: np.ndarray, rate: int, subtype="PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def mp3_bytes(x: np.ndarray, rate: int, channels: int = 1) -> bytes:
    enc = lameenc.Encoder()
    enc.set_bit_rate(64)
    enc.set_in_sample_rate(rate)
    enc.set_channels(channels)
    enc.set_quality(2)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    return bytes(enc.encode(pcm)) + bytes(enc.flush())


def dominant_freq(x: np.ndarray, rate: int = 8000) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=float) ** 2)))


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_wav_at_any_rate_becomes_8khz_with_the_same_tone(rate):
    p = Prompt.from_bytes(wav_bytes(tone(440, rate, 1.0), rate))
    assert abs(p.duration - 1.0) < 0.01
    assert abs(dominant_freq(p.samples[800:7200].astype(float)) - 440) < 5
    assert abs(rms(p.samples[800:7200]) - 0.5 * 32767 / np.sqrt(2)) < 600


def test_stereo_is_downmixed_to_mono():
    left = tone(440, 16000, 0.5)
    stereo = np.stack([left, -left * 0 + left], axis=1)
    p = Prompt.from_bytes(wav_bytes(stereo, 16000))
    assert p.samples.ndim == 1 and abs(p.duration - 0.5) < 0.01


def test_mp3_is_decoded_and_resampled():
    p = Prompt.from_bytes(mp3_bytes(tone(600, 44100, 1.0), 44100))
    assert 0.95 < p.duration < 1.15  # MP3 adds encoder delay/padding
    assert abs(dominant_freq(p.samples[1000:7000].astype(float)) - 600) < 5


def test_content_above_the_telephone_band_is_filtered_not_aliased():
    # 6 kHz at 48 kHz would alias to 2 kHz with naive decimation
    p = Prompt.from_bytes(wav_bytes(tone(6000, 48000, 1.0), 48000))
    assert rms(p.samples[800:7200]) < 0.01 * 32767


def test_resample_identity_and_empty():
    x = tone(100, 8000, 0.1)
    assert np.array_equal(resample(x, 8000, 8000), x)
    assert len(resample(np.zeros(0, dtype=np.float32), 44100, 8000)) == 0


def test_frames_are_160_bytes_last_one_padded_with_silence():
    samples = np.full(400, 1000, dtype=np.int16)
    frames = to_frames(samples, "PCMU")
    assert [len(f) for f in frames] == [160, 160, 160]
    assert frames[2][80:] == bytes([g711.SILENCE["PCMU"]]) * 80
    assert g711.decode("PCMU", frames[0])[0] == g711.decode("PCMU", g711.encode("PCMU", samples))[0]


def test_frames_are_cached_per_codec():
    p = Prompt(np.zeros(320, dtype=np.int16))
    assert p.frames("PCMA") is p.frames("PCMA")
    assert p.frames("PCMA")[0] == bytes([0xD5]) * 160
    assert p.frames("PCMU")[0] == bytes([0xFF]) * 160


def test_garbage_does_not_decode():
    with pytest.raises(Exception):  # noqa: B017 — any decoder error; load() turns it into None
        Prompt.from_bytes(b"this is not audio at all" * 10)
