"""Call recording: both directions of a call mixed into one mono 8 kHz file.

:class:`CallRecorder` is a relay tap (``feed(direction, packet, arrival)``) that keeps
the G.711 payloads it sees as contiguous runs (about one byte per sample: 8 kB/s per
direction, ~58 MB for a one-hour call) and, when the call ends, decodes them, lays each
direction out on one timeline and mixes them.

Placement on the timeline: the first packet of each RTP stream (direction + SSRC) is
placed by its arrival time relative to the recording start; every later packet of that
stream is placed by its RTP timestamp relative to that anchor, so network jitter does not
smear the audio, lost packets leave silence of exactly their length, and the two
directions stay aligned to within the network's one-way delay. If a stream's timestamps
disagree with arrival times by more than half a second (a sender that jumped its
timestamp, a paused stream) the stream is re-anchored on arrival time.

Writes WAV (stdlib ``wave``, 16-bit mono 8 kHz) or MP3 (``lameenc``, mono, 32 kbit/s).
Rendering and writing run in a worker thread (the relay calls :meth:`write` through
``asyncio.to_thread``).
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from . import g711
from .rtp import RtpParseError, payload_end, payload_offset

RATE = 8000
_TS_SSRC = struct.Struct("!II")
_REANCHOR_SAMPLES = RATE // 2
_CODECS: tuple[g711.Codec, ...] = ("PCMU", "PCMA")


@dataclass(frozen=True, slots=True)
class RecordingResult:
    path: Path
    format: Literal["wav", "mp3"]
    #: seconds of audio in the file
    duration: float
    size: int


@dataclass(slots=True)
class _Stream:
    anchor_ts: int
    anchor_pos: int


@dataclass(slots=True)
class _Direction:
    pt_codec: dict[int, int] = field(default_factory=lambda: {0: 0, 8: 1})
    streams: dict[int, _Stream] = field(default_factory=dict)
    #: runs of contiguous audio [sample position, codec index, codes]; in-order packets
    #: extend the last run, so memory stays ~1 byte per sample (8 kB/s per direction)
    chunks: list[list] = field(default_factory=list)


class CallRecorder:
    """Collects packets of each direction (by name, e.g. "A"/"B") and renders a mix."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.stopped_at: float | None = None
        self._dirs: dict[str, _Direction] = {}

    def set_codec(self, direction: str, payload_type: int, codec: g711.Codec) -> None:
        """Map a (dynamic) payload type to a G.711 law for one direction."""
        self._dir(direction).pt_codec[payload_type] = _CODECS.index(codec)

    def _dir(self, direction: str) -> _Direction:
        d = self._dirs.get(direction)
        if d is None:
            d = self._dirs[direction] = _Direction()
        return d

    def feed(self, direction: str, data: bytes, arrival: float) -> None:
        """Tap entry point: one received RTP packet of ``direction`` at ``arrival``."""
        if self.stopped_at is not None or len(data) < 12:
            return
        d = self._dirs.get(direction) or self._dir(direction)
        codec = d.pt_codec.get(data[1] & 0x7F)
        if codec is None:
            return  # telephone-event, comfort noise, anything not G.711
        if data[0] == 0x80:  # the usual packet: no CSRC, extension or padding
            payload = data[12:]
        else:
            try:
                off = payload_offset(data)
            except RtpParseError:
                return
            payload = data[off : payload_end(data)]
        if not payload:
            return
        ts, ssrc = _TS_SSRC.unpack_from(data, 4)
        # the same rule for both directions, so they stay aligned with each other
        by_arrival = int((arrival - self.start) * RATE + 0.5)
        st = d.streams.get(ssrc)
        if st is None:
            st = d.streams[ssrc] = _Stream(ts, by_arrival)
            pos = by_arrival
        else:
            delta = (ts - st.anchor_ts) & 0xFFFFFFFF
            pos = st.anchor_pos + (delta - 0x100000000 if delta >= 0x80000000 else delta)
            if not -_REANCHOR_SAMPLES <= pos - by_arrival <= _REANCHOR_SAMPLES:
                st.anchor_ts, st.anchor_pos = ts, by_arrival
                pos = by_arrival
        chunks = d.chunks
        if chunks:
            last = chunks[-1]
            if last[1] == codec and last[0] + len(last[2]) == pos:
                last[2] += payload
                return
        chunks.append([pos, codec, bytearray(payload)])

    def stop(self, now: float) -> None:
        if self.stopped_at is None:
            self.stopped_at = now

    def render(self) -> np.ndarray:
        """The mixed recording as int16 samples at 8 kHz (silence where nothing came)."""
        length = 0
        for d in self._dirs.values():
            for pos, _, payload in d.chunks:
                length = max(length, pos + len(payload))
        mix = np.zeros(length, dtype=np.int32)
        tables = (g711.ULAW_DECODE, g711.ALAW_DECODE)
        for d in self._dirs.values():
            track = np.zeros(length, dtype=np.int16)
            for pos, codec, payload in d.chunks:
                samples = tables[codec][np.frombuffer(payload, dtype=np.uint8)]
                if pos < 0:
                    samples = samples[-pos:]
                    pos = 0
                track[pos : pos + len(samples)] = samples  # a duplicate overwrites itself
            mix += track
        return np.clip(mix, -32768, 32767).astype(np.int16)

    def write(self, path: str | Path, fmt: Literal["wav", "mp3"] = "wav") -> RecordingResult:
        path = Path(path)
        samples = self.render()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        if fmt == "wav":
            write_wav(tmp, samples)
        elif fmt == "mp3":
            tmp.write_bytes(encode_mp3(samples))
        else:
            raise ValueError(f"unknown recording format {fmt!r}")
        tmp.replace(path)  # readers never see a half-written file
        return RecordingResult(path, fmt, len(samples) / RATE, path.stat().st_size)


def write_wav(path: str | Path, samples: np.ndarray, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


def encode_mp3(samples: np.ndarray, rate: int = RATE, bitrate_kbps: int = 32) -> bytes:
    import lameenc

    enc = lameenc.Encoder()
    enc.set_bit_rate(bitrate_kbps)
    enc.set_in_sample_rate(rate)
    enc.set_channels(1)
    enc.set_quality(2)
    return bytes(enc.encode(samples.astype("<i2").tobytes())) + bytes(enc.flush())
