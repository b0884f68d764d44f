"""Call recording: both directions of a call mixed into one mono 8 kHz file.

:class:`CallRecorder` is a relay tap (``feed(direction, packet, arrival)``) that keeps
the G.711 payloads it sees as contiguous runs (about one byte per sample), lays each
direction out on one timeline and mixes them. Audio that can no longer change (older than
``settle`` seconds) is mixed as the call goes and spooled to a temporary file, so memory
per recorded call stays at a few seconds of audio however long the call lasts.

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
import tempfile
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

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
    """Collects packets of each direction (by name, e.g. "A"/"B") and renders a mix.

    Memory stays bounded on long calls: audio older than ``settle`` seconds (by arrival
    position; no packet can still land there, see the re-anchoring rule) is mixed and
    appended to an anonymous temporary file in ``spool_dir`` in blocks of ``spool_block``
    seconds. Short calls never touch the disk.
    """

    def __init__(
        self,
        start: float,
        *,
        settle: float = 2.0,
        spool_block: float = 10.0,
        spool_dir: str | Path | None = None,
    ) -> None:
        self.start = start
        self.stopped_at: float | None = None
        self._dirs: dict[str, _Direction] = {}
        self._settle = max(int(settle * RATE), 2 * _REANCHOR_SAMPLES)
        self._block = max(1, int(spool_block * RATE))
        self._spool_dir = spool_dir
        self._spool: IO[bytes] | None = None
        #: samples [0, _flushed) are mixed and in the spool; later ones are in chunks
        self._flushed = 0
        self._end = 0

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
        if pos < self._flushed:  # (only possible with a tiny ``settle``) too late: trim
            payload = payload[self._flushed - pos :]
            pos = self._flushed
            if not payload:
                return
        end = pos + len(payload)
        if end > self._end:
            self._end = end
        chunks = d.chunks
        if chunks:
            last = chunks[-1]
            if last[1] == codec and last[0] + len(last[2]) == pos:
                last[2] += payload
                self._maybe_spool(by_arrival)
                return
        chunks.append([pos, codec, bytearray(payload)])
        self._maybe_spool(by_arrival)

    def _maybe_spool(self, now_pos: int) -> None:
        upto = now_pos - self._settle
        if upto - self._flushed < self._block:
            return
        if self._spool is None:
            # lives across many feed() calls; closed by _blocks() or discard()
            self._spool = tempfile.TemporaryFile(  # noqa: SIM115
                prefix="vts-rec-", dir=self._spool_dir
            )
        self._spool.write(self._mix(upto).astype("<i2").tobytes())

    def _mix(self, upto: int) -> np.ndarray:
        """Mix [_flushed, upto) out of the chunks, drop what was used, advance _flushed."""
        lo = self._flushed
        mix = np.zeros(max(0, upto - lo), dtype=np.int32)
        tables = (g711.ULAW_DECODE, g711.ALAW_DECODE)
        for d in self._dirs.values():
            track = np.zeros(len(mix), dtype=np.int16)
            kept = []
            for chunk in d.chunks:
                pos, codec, payload = chunk
                end = pos + len(payload)
                if pos < upto:
                    a, b = max(pos, lo), min(end, upto)
                    if b > a:
                        codes = np.frombuffer(payload, dtype=np.uint8)[a - pos : b - pos]
                        track[a - lo : b - lo] = tables[codec][codes]  # later ones overwrite
                if end > upto:
                    if pos < upto:
                        chunk = [upto, codec, payload[upto - pos :]]
                    kept.append(chunk)
            d.chunks = kept
            mix += track
        self._flushed = max(lo, upto)
        return np.clip(mix, -32768, 32767).astype(np.int16)

    def stop(self, now: float) -> None:
        if self.stopped_at is None:
            self.stopped_at = now

    @property
    def duration(self) -> float:
        return max(self._end, self._flushed) / RATE

    def _blocks(self) -> Iterator[np.ndarray]:
        """The whole recording, in order, as int16 blocks (consumes the recorder)."""
        if self._spool is not None:
            self._spool.seek(0)
            while block := self._spool.read(1 << 20):
                yield np.frombuffer(block, dtype="<i2")
            self._spool.close()
            self._spool = None
        yield self._mix(max(self._end, self._flushed))

    def render(self) -> np.ndarray:
        """The mixed recording as int16 samples at 8 kHz (silence where nothing came).

        Consumes the recorder (spooled audio is read back once)."""
        return np.concatenate([b.astype(np.int16) for b in self._blocks()])

    def write(self, path: str | Path, fmt: Literal["wav", "mp3"] = "wav") -> RecordingResult:
        """Write the file (atomically: ``path`` appears complete or not at all).

        Consumes the recorder; streams block by block, never the whole call in memory."""
        path = Path(path)
        if fmt not in ("wav", "mp3"):
            raise ValueError(f"unknown recording format {fmt!r}")
        duration = self.duration
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        try:
            if fmt == "wav":
                with wave.open(str(tmp), "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(RATE)
                    for block in self._blocks():
                        w.writeframes(block.astype("<i2").tobytes())
            else:
                enc = _mp3_encoder()
                with open(tmp, "wb") as f:
                    for block in self._blocks():
                        f.write(bytes(enc.encode(block.astype("<i2").tobytes())))
                    f.write(bytes(enc.flush()))
            tmp.replace(path)  # readers never see a half-written file
        finally:
            tmp.unlink(missing_ok=True)
        return RecordingResult(path, fmt, duration, path.stat().st_size)

    def discard(self) -> None:
        """Drop everything (a recording that will not be written)."""
        for d in self._dirs.values():
            d.chunks = []
        if self._spool is not None:
            self._spool.close()
            self._spool = None


def write_wav(path: str | Path, samples: np.ndarray, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


def _mp3_encoder(rate: int = RATE, bitrate_kbps: int = 32):  # -> lameenc.Encoder
    import lameenc

    enc = lameenc.Encoder()
    enc.set_bit_rate(bitrate_kbps)
    enc.set_in_sample_rate(rate)
    enc.set_channels(1)
    enc.set_quality(2)
    return enc


def encode_mp3(samples: np.ndarray, rate: int = RATE, bitrate_kbps: int = 32) -> bytes:
    enc = _mp3_encoder(rate, bitrate_kbps)
    return bytes(enc.encode(samples.astype("<i2").tobytes())) + bytes(enc.flush())
