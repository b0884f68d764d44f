"""Prompts: fetch an MP3/WAV URL, cache it, and turn it into 20 ms G.711 frames.

:class:`PromptFetcher` fetches with httpx (http/https only, connect/read/total time-outs,
a hard size cap enforced while streaming, redirects followed), keeps bodies in memory
(LRU) and optionally in a cache folder keyed by the URL's SHA-256, and revalidates them
with ``If-None-Match`` / ``If-Modified-Since`` once they are older than ``fresh_for``
seconds. A network error or 5xx during revalidation serves the cached copy; a 4xx drops it.

Decoding uses ``soundfile`` (libsndfile ≥ 1.1 reads MP3; older builds are detected and
reported in the log), downmixes to mono and resamples to 8 kHz: a windowed-sinc low-pass
at 3.6 kHz (FFT convolution, so no aliasing from 44.1/48 kHz material) followed by linear
interpolation onto the 8 kHz grid — plenty for telephone-band speech, numpy only.

Play URLs come from customers, so they are fetched through the same guarded client as
event callbacks (:mod:`vts_masking.guarded_http`): a URL of an ambiguous shape is not
fetched, and neither is one whose host resolves to a loopback, private, link-local,
site-local, multicast or otherwise non-public address (IPv4 inside IPv6 included), nor
one that does not resolve; ``allow_private=True`` lifts the address rule (development,
tests, operator-internal prompt servers). The check is made inside the connection, on
the very address connected to, and again for every redirect hop, so a DNS answer that
changes between the check and the request changes nothing.

Every failure path returns None with one log line: a call must go on without its prompt.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from .. import badinput
from ..clock import Clock
from ..guarded_http import UnsafeTarget, check_url, make_client
from . import g711

log = logging.getLogger(__name__)

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


@dataclass(slots=True)
class Prompt:
    """Mono 8 kHz int16 audio, with its G.711 20 ms frames computed once per codec."""

    samples: np.ndarray
    source: str = ""
    _frames: dict[str, list[bytes]] = field(default_factory=dict, repr=False)

    @property
    def duration(self) -> float:
        return len(self.samples) / RATE

    def frames(self, codec: g711.Codec) -> list[bytes]:
        cached = self._frames.get(codec)
        if cached is None:
            cached = self._frames[codec] = to_frames(self.samples, codec)
        return cached

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "") -> Prompt:
        """Decode MP3/WAV/anything libsndfile reads; raises on undecodable input."""
        audio, rate = decode_audio(data)
        return cls(to_int16(resample(audio, rate, RATE)), source)


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """(mono float32 samples in [-1, 1], sample rate) from an encoded file's bytes."""
    import soundfile as sf

    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:
        looks_mp3 = data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] >= 0xE0)
        if looks_mp3 and "MP3" not in sf.available_formats():
            raise RuntimeError(
                f"libsndfile {sf.__libsndfile_version__} cannot read MP3 (need ≥ 1.1)"
            ) from e
        raise
    if audio.shape[0] == 0:
        raise ValueError("no audio frames")
    return audio.mean(axis=1, dtype=np.float32), int(rate)


def _lowpass_kernel(cutoff: float, taps: int) -> np.ndarray:
    """Blackman-windowed sinc; cutoff as a fraction of the sample rate (0..0.5)."""
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(taps)
    return h / h.sum()


def _fft_convolve_same(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    size = len(x) + len(h) - 1
    nfft = 1 << math.ceil(math.log2(size))
    y = np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(h, nfft), nfft)[:size]
    start = (len(h) - 1) // 2
    return y[start : start + len(x)]


def resample(x: np.ndarray, src_rate: int, dst_rate: int = RATE) -> np.ndarray:
    """Resample float audio: anti-alias low-pass (when downsampling) + linear interpolation."""
    if src_rate == dst_rate or len(x) == 0:
        return x.astype(np.float32, copy=False)
    if src_rate > dst_rate:
        cutoff = 0.45 * dst_rate / src_rate
        taps = int(8 / cutoff) | 1  # longer kernel for steeper ratios
        x = _fft_convolve_same(x.astype(np.float64), _lowpass_kernel(cutoff, taps))
    n_out = int(len(x) * dst_rate / src_rate)
    t = np.arange(n_out) * (src_rate / dst_rate)
    return np.interp(t, np.arange(len(x)), x).astype(np.float32)


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 32767.0), -32768, 32767).astype(np.int16)


def to_frames(samples: np.ndarray, codec: g711.Codec, frame: int = FRAME_SAMPLES) -> list[bytes]:
    """Encode int16 samples into ``frame``-sample payloads; the last is padded with silence."""
    encoded = g711.encode(codec, samples)
    rem = len(encoded) % frame
    if rem:
        encoded += bytes([g711.SILENCE[codec]]) * (frame - rem)
    return [encoded[i : i + frame] for i in range(0, len(encoded), frame)]


@dataclass(slots=True)
class _Entry:
    body: bytes
    etag: str | None
    last_modified: str | None
    checked_at: float
    prompt: Prompt | None = None


class _TooLarge(Exception):
    pass


class PromptFetcher:
    """Fetches, caches and prepares prompts. One per process; ``await aclose()`` it."""

    def __init__(
        self,
        *,
        cache_dir: str | Path | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        total_timeout: float = 30.0,
        fresh_for: float = 60.0,
        max_entries: int = 256,
        allow_private: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.max_bytes = max_bytes
        self.total_timeout = total_timeout
        self.fresh_for = fresh_for
        self.max_entries = max_entries
        self.allow_private = allow_private
        self._clock = clock or Clock()
        self._client = make_client(
            allow_private=allow_private,
            concurrency=16,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_redirects=3,
            user_agent="vts-masking-prompts/1",
        )
        self._mem: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        #: counters for tests and metrics
        self.requests = 0
        self.not_modified = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def load(self, url: str) -> Prompt | None:
        """The prepared prompt for ``url``, or None (logged) if it cannot be had."""
        entry = await self._get(url, decode=True)
        return entry.prompt if entry is not None else None

    async def fetch(self, url: str) -> bytes | None:
        """The body of ``url`` (cached/revalidated), or None (logged)."""
        entry = await self._get(url, decode=False)
        return entry.body if entry is not None else None

    async def _get(self, url: str, *, decode: bool) -> _Entry | None:
        try:
            check_url(url)
        except UnsafeTarget as e:
            badinput.note("unsafe_url", f"prompt {url!r}: {e}")
            return None
        # one fetch (and one decode) per URL at a time: concurrent calls share the result
        lock, users = self._locks.get(url) or (asyncio.Lock(), 0)
        self._locks[url] = (lock, users + 1)
        try:
            async with lock:
                entry = await self._get_locked(url)
                if entry is None or not decode or entry.prompt is not None:
                    return entry
                try:
                    entry.prompt = await asyncio.to_thread(Prompt.from_bytes, entry.body, url)
                except Exception as e:
                    log.warning(
                        "prompt %s: cannot decode (%s: %s); skipping", url, type(e).__name__, e
                    )
                    return None
                return entry
        finally:
            lock, users = self._locks[url]
            if users <= 1:
                del self._locks[url]
            else:
                self._locks[url] = (lock, users - 1)

    async def _get_locked(self, url: str) -> _Entry | None:
        now = self._clock.monotonic()
        entry = self._mem.get(url)
        if entry is None:
            entry = self._disk_load(url)
        if entry is not None and now - entry.checked_at < self.fresh_for:
            self._remember(url, entry)
            return entry
        headers = {}
        if entry is not None:
            if entry.etag:
                headers["If-None-Match"] = entry.etag
            if entry.last_modified:
                headers["If-Modified-Since"] = entry.last_modified
        try:
            async with asyncio.timeout(self.total_timeout):
                status, resp_headers, body = await self._request(url, headers)
        except _TooLarge:
            log.warning("prompt %s: larger than %d bytes; skipping", url, self.max_bytes)
            return None
        except UnsafeTarget as e:
            badinput.note("unsafe_url", f"prompt {url!r}: {e}; not a public address")
            return None
        except (httpx.HTTPError, TimeoutError, OSError) as e:
            if entry is not None:
                log.warning("prompt %s: %s; serving the cached copy", url, type(e).__name__)
                return entry
            log.warning("prompt %s: fetch failed (%s: %s); skipping", url, type(e).__name__, e)
            return None
        if status == 304 and entry is not None:
            self.not_modified += 1
            entry.checked_at = now
            self._remember(url, entry)
            return entry
        if status != 200:
            if status >= 500 and entry is not None:
                log.warning("prompt %s: HTTP %d; serving the cached copy", url, status)
                return entry
            log.warning("prompt %s: HTTP %d; skipping", url, status)
            self._forget(url)
            return None
        entry = _Entry(body, resp_headers.get("etag"), resp_headers.get("last-modified"), now)
        self._remember(url, entry)
        self._disk_store(url, entry)
        return entry

    async def _request(self, url: str, headers: dict[str, str]) -> tuple[int, httpx.Headers, bytes]:
        self.requests += 1
        async with self._client.stream("GET", url, headers=headers) as r:
            if r.status_code != 200:
                return r.status_code, r.headers, b""
            declared = r.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                raise _TooLarge
            buf = bytearray()
            async for chunk in r.aiter_bytes():
                buf += chunk
                if len(buf) > self.max_bytes:
                    raise _TooLarge
            return 200, r.headers, bytes(buf)

    def _remember(self, url: str, entry: _Entry) -> None:
        self._mem[url] = entry
        self._mem.move_to_end(url)
        while len(self._mem) > self.max_entries:
            self._mem.popitem(last=False)

    def _forget(self, url: str) -> None:
        self._mem.pop(url, None)
        if self.cache_dir is not None:
            for p in self._disk_paths(url):
                p.unlink(missing_ok=True)

    def _disk_paths(self, url: str) -> tuple[Path, Path]:
        assert self.cache_dir is not None
        key = hashlib.sha256(url.encode()).hexdigest()
        return self.cache_dir / f"{key}.body", self.cache_dir / f"{key}.json"

    def _disk_load(self, url: str) -> _Entry | None:
        if self.cache_dir is None:
            return None
        body_p, meta_p = self._disk_paths(url)
        try:
            meta = json.loads(meta_p.read_text())
            if meta.get("url") != url:
                return None
            body = body_p.read_bytes()
        except (OSError, ValueError):
            return None
        # unknown age: revalidate before first use
        return _Entry(body, meta.get("etag"), meta.get("last_modified"), -math.inf)

    def _disk_store(self, url: str, entry: _Entry) -> None:
        if self.cache_dir is None:
            return
        body_p, meta_p = self._disk_paths(url)
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = body_p.with_suffix(".tmp")
            tmp.write_bytes(entry.body)
            tmp.replace(body_p)
            meta = {"url": url, "etag": entry.etag, "last_modified": entry.last_modified}
            meta_p.write_text(json.dumps(meta))
        except OSError as e:
            log.warning("prompt cache %s: cannot write (%s)", self.cache_dir, e)
