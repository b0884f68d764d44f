"""G.711 µ-law and A-law: 256-entry decode tables and 65536-entry encode tables.

The arithmetic is the ITU-T G.711 reference as written in Sun's public-domain ``g711.c``
(the code behind the standard library's ``audioop``), so our output is bit-identical to
``audioop.lin2ulaw``/``lin2alaw``/``ulaw2lin``/``alaw2lin`` — the tests check every code and
every 16-bit linear value. Tables are built once at import with numpy; encoding a buffer
is one fancy-indexing lookup, which keeps the relay's transcoding path cheap.

Note on signs: A-law code ``0xD5`` is +8 and ``0x55`` is -8 (bit 7 set means positive after
the 0x55 inversion). Some libraries (``aiortp``) get this backwards.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Codec = Literal["PCMU", "PCMA"]

#: Static RTP payload types (RFC 3551).
PT_PCMU = 0
PT_PCMA = 8
CODEC_BY_PT: dict[int, Codec] = {PT_PCMU: "PCMU", PT_PCMA: "PCMA"}
PT_BY_CODEC: dict[Codec, int] = {"PCMU": PT_PCMU, "PCMA": PT_PCMA}

#: Code of digital silence for each law (what a zero sample encodes to).
SILENCE: dict[Codec, int] = {"PCMU": 0xFF, "PCMA": 0xD5}

_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int64)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int64)


def _build_ulaw_decode() -> np.ndarray:
    u = (~np.arange(256, dtype=np.int64)) & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t = t << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _build_alaw_decode() -> np.ndarray:
    a = np.arange(256, dtype=np.int64) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _build_ulaw_encode() -> np.ndarray:
    # Index is the 16-bit sample reinterpreted as uint16 (so -1 is index 65535).
    pcm = np.arange(65536, dtype=np.int64)
    pcm = np.where(pcm >= 32768, pcm - 65536, pcm) >> 2  # 14-bit, arithmetic shift
    neg = pcm < 0
    mask = np.where(neg, 0x7F, 0xFF)
    mag = np.minimum(np.where(neg, -pcm, pcm), 8159) + (0x84 >> 2)
    seg = np.searchsorted(_SEG_UEND, mag, side="left")
    uval = np.where(
        seg >= 8, 0x7F, (np.minimum(seg, 7) << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0x0F)
    )
    return (uval ^ mask).astype(np.uint8)


def _build_alaw_encode() -> np.ndarray:
    pcm = np.arange(65536, dtype=np.int64)
    pcm = np.where(pcm >= 32768, pcm - 65536, pcm) >> 3  # 13-bit, arithmetic shift
    neg = pcm < 0
    mask = np.where(neg, 0x55, 0xD5)
    mag = np.where(neg, -pcm - 1, pcm)
    seg = np.searchsorted(_SEG_AEND, mag, side="left")
    segc = np.minimum(seg, 7)
    quant = np.where(segc < 2, mag >> 1, mag >> segc) & 0x0F
    aval = np.where(seg >= 8, 0x7F, (segc << 4) | quant)
    return (aval ^ mask).astype(np.uint8)


#: code → linear int16 sample
ULAW_DECODE: np.ndarray = _build_ulaw_decode()
ALAW_DECODE: np.ndarray = _build_alaw_decode()
#: linear sample (as uint16 index) → code
ULAW_ENCODE: np.ndarray = _build_ulaw_encode()
ALAW_ENCODE: np.ndarray = _build_alaw_encode()
#: direct code → code transcoding tables (via linear), and their ``bytes.translate`` forms
ULAW_TO_ALAW: np.ndarray = ALAW_ENCODE[ULAW_DECODE.view(np.uint16)]
ALAW_TO_ULAW: np.ndarray = ULAW_ENCODE[ALAW_DECODE.view(np.uint16)]
ULAW_TO_ALAW_BYTES: bytes = ULAW_TO_ALAW.tobytes()
ALAW_TO_ULAW_BYTES: bytes = ALAW_TO_ULAW.tobytes()

_DECODE = {"PCMU": ULAW_DECODE, "PCMA": ALAW_DECODE}
_ENCODE = {"PCMU": ULAW_ENCODE, "PCMA": ALAW_ENCODE}


def ulaw_decode_sample(code: int) -> int:
    return int(ULAW_DECODE[code & 0xFF])


def alaw_decode_sample(code: int) -> int:
    return int(ALAW_DECODE[code & 0xFF])


def ulaw_encode_sample(sample: int) -> int:
    return int(ULAW_ENCODE[_clip16(sample) & 0xFFFF])


def alaw_encode_sample(sample: int) -> int:
    return int(ALAW_ENCODE[_clip16(sample) & 0xFFFF])


def _clip16(sample: int) -> int:
    return -32768 if sample < -32768 else 32767 if sample > 32767 else sample


def decode(codec: Codec, data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """Decode a buffer of G.711 codes into int16 samples."""
    codes = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    return _DECODE[codec][codes]


def encode(codec: Codec, samples: np.ndarray) -> bytes:
    """Encode int16 samples (other integer/float arrays are clipped to int16) into codes."""
    if samples.dtype != np.int16:
        samples = np.clip(np.rint(samples), -32768, 32767).astype(np.int16)
    return _ENCODE[codec][samples.view(np.uint16)].tobytes()


def transcode(src: Codec, dst: Codec, payload: bytes) -> bytes:
    """Re-encode a G.711 payload from one law to the other (identity if equal)."""
    if src == dst:
        return payload
    return payload.translate(ULAW_TO_ALAW_BYTES if src == "PCMU" else ALAW_TO_ULAW_BYTES)
