"""Prompt fetching against a real HTTP server on 127.0.0.1 (a thread running http.server)."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import lameenc
import numpy as np
import pytest
import soundfile as sf

from vts_masking import badinput
from vts_masking.clock import FrozenClock
from vts_masking.media.prompt import PromptFetcher


def tone(freq: float, rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def make_wav(freq=440.0, rate=16000, seconds=0.5) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, tone(freq, rate, seconds), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def make_mp3(freq=440.0, rate=44100, seconds=0.5) -> bytes:
    enc = lameenc.Encoder()
    enc.set_bit_rate(64)
    enc.set_in_sample_rate(rate)
    enc.set_channels(1)
    enc.set_quality(2)
    pcm = (tone(freq, rate, seconds) * 32767).astype("<i2").tobytes()
    return bytes(enc.encode(pcm)) + bytes(enc.flush())


@dataclass
class Site:
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    conditional_hits: int = 0
    #: path → status to answer instead of the file (simulates an outage)
    failing: dict[str, int] = field(default_factory=dict)
    base: str = ""


LAST_MODIFIED = formatdate(1_700_000_000, usegmt=True)


def handler_for(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path
            site.hits[path] = site.hits.get(path, 0) + 1
            if path in site.failing:
                self.send_response(site.failing[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if path == "/slow":
                time.sleep(2.0)
            if path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/tone.wav")
                self.end_headers()
                return
            if path == "/huge-undeclared":
                self.send_response(200)
                self.end_headers()  # no Content-Length: streamed until close
                try:
                    for _ in range(200):
                        self.wfile.write(b"\0" * 65536)
                except OSError:
                    pass
                return
            if path == "/boom":
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if path == "/lm-only.wav":  # a server that validates by date alone
                if self.headers.get("If-Modified-Since") == LAST_MODIFIED:
                    site.conditional_hits += 1
                    self.send_response(304)
                    self.end_headers()
                    return
                body = site.files["/tone.wav"][0]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Last-Modified", LAST_MODIFIED)
                self.end_headers()
                self.wfile.write(body)
                return
            if path not in site.files:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, ctype = site.files[path]
            etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
            if self.headers.get("If-None-Match") == etag:
                site.conditional_hits += 1
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", LAST_MODIFIED)
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    s.files["/tone.wav"] = (make_wav(440), "audio/wav")
    s.files["/tone.mp3"] = (make_mp3(600), "audio/mpeg")
    s.files["/notaudio.wav"] = (b"<html>not found really</html>" * 20, "audio/wav")
    s.files["/big.wav"] = (b"\0" * 300_000, "audio/wav")
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(s))
    server.daemon_threads = True
    s.base = f"http://127.0.0.1:{server.server_address[1]}"
    t = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    t.start()
    yield s
    server.shutdown()
    server.server_close()


def dominant_freq(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x.astype(float) * np.hanning(len(x))))
    return float(np.argmax(spec) * 8000 / len(x))


@pytest.mark.asyncio
async def test_wav_url_becomes_8khz_frames(site):
    f = PromptFetcher(allow_private=True)
    p = await f.load(site.base + "/tone.wav")
    await f.aclose()
    assert p is not None and abs(p.duration - 0.5) < 0.01
    assert abs(dominant_freq(p.samples[400:3600]) - 440) < 10
    assert len(p.frames("PCMU")) == 25 and all(len(fr) == 160 for fr in p.frames("PCMU"))


@pytest.mark.asyncio
async def test_mp3_url_is_decoded(site):
    f = PromptFetcher(allow_private=True)
    p = await f.load(site.base + "/tone.mp3")
    await f.aclose()
    assert p is not None
    assert abs(dominant_freq(p.samples[800:3600]) - 600) < 10


@pytest.mark.asyncio
async def test_cached_prompt_is_not_refetched_while_fresh(site):
    clock = FrozenClock()
    f = PromptFetcher(allow_private=True, fresh_for=60, clock=clock)
    p1 = await f.load(site.base + "/tone.wav")
    clock.advance(30)
    p2 = await f.load(site.base + "/tone.wav")
    await f.aclose()
    assert p1 is p2
    assert site.hits["/tone.wav"] == 1


@pytest.mark.asyncio
async def test_stale_prompt_is_revalidated_with_its_etag(site):
    clock = FrozenClock()
    f = PromptFetcher(allow_private=True, fresh_for=60, clock=clock)
    p1 = await f.load(site.base + "/tone.wav")
    clock.advance(61)
    p2 = await f.load(site.base + "/tone.wav")
    await f.aclose()
    assert p1 is p2  # 304: same decoded prompt, not decoded again
    assert site.hits["/tone.wav"] == 2 and site.conditional_hits == 1
    assert f.not_modified == 1


@pytest.mark.asyncio
async def test_revalidation_by_last_modified_when_there_is_no_etag(site):
    f = PromptFetcher(allow_private=True, fresh_for=0)
    p1 = await f.load(site.base + "/lm-only.wav")
    p2 = await f.load(site.base + "/lm-only.wav")
    await f.aclose()
    assert p1 is not None and p2 is p1
    assert site.conditional_hits == 1


@pytest.mark.asyncio
async def test_changed_file_is_fetched_again_after_revalidation(site):
    clock = FrozenClock()
    f = PromptFetcher(allow_private=True, fresh_for=0, clock=clock)
    await f.load(site.base + "/tone.wav")
    site.files["/tone.wav"] = (make_wav(1000), "audio/wav")
    p = await f.load(site.base + "/tone.wav")
    await f.aclose()
    assert p is not None and abs(dominant_freq(p.samples[400:3600]) - 1000) < 10


@pytest.mark.asyncio
async def test_disk_cache_survives_a_new_fetcher_and_is_revalidated(site, tmp_path):
    f1 = PromptFetcher(allow_private=True, cache_dir=tmp_path)
    await f1.load(site.base + "/tone.wav")
    await f1.aclose()
    f2 = PromptFetcher(allow_private=True, cache_dir=tmp_path)
    p = await f2.load(site.base + "/tone.wav")
    await f2.aclose()
    assert p is not None
    assert site.conditional_hits == 1  # the second fetcher asked "changed?" and got 304


@pytest.mark.asyncio
async def test_redirect_is_followed(site):
    f = PromptFetcher(allow_private=True)
    p = await f.load(site.base + "/redirect")
    await f.aclose()
    assert p is not None


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/missing.wav", "HTTP 404"),
        ("/boom", "HTTP 500"),
        ("/notaudio.wav", "cannot decode"),
        ("/big.wav", "larger than"),
        ("/huge-undeclared", "larger than"),
    ],
)
@pytest.mark.asyncio
async def test_failures_return_none_with_a_log_line(site, caplog, path, why):
    f = PromptFetcher(allow_private=True, max_bytes=200_000)
    with caplog.at_level(logging.WARNING, logger="vts_masking.media.prompt"):
        p = await f.load(site.base + path)
    await f.aclose()
    assert p is None
    assert why in caplog.text


@pytest.mark.asyncio
async def test_read_timeout_returns_none(site, caplog):
    f = PromptFetcher(allow_private=True, read_timeout=0.3)
    with caplog.at_level(logging.WARNING):
        p = await f.load(site.base + "/slow")
    await f.aclose()
    assert p is None and "ReadTimeout" in caplog.text


@pytest.mark.asyncio
async def test_connection_refused_returns_none():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    f = PromptFetcher(allow_private=True, connect_timeout=0.5)
    assert await f.load(f"http://127.0.0.1:{port}/x.wav") is None
    await f.aclose()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.wav", "not a url"])
@pytest.mark.asyncio
async def test_only_http_and_https_are_fetched(url):
    f = PromptFetcher(allow_private=True)
    assert await f.load(url) is None
    await f.aclose()


@pytest.mark.asyncio
async def test_server_error_on_revalidation_serves_the_cached_copy(site):
    f = PromptFetcher(allow_private=True, fresh_for=0)
    url = site.base + "/tone.wav"
    p1 = await f.load(url)
    site.failing["/tone.wav"] = 503
    p2 = await f.load(url)
    await f.aclose()
    assert p1 is not None and p2 is p1


@pytest.mark.asyncio
async def test_removed_file_is_dropped_from_the_cache(site, tmp_path):
    f = PromptFetcher(allow_private=True, fresh_for=0, cache_dir=tmp_path)
    url = site.base + "/tone.wav"
    assert await f.load(url) is not None
    site.failing["/tone.wav"] = 404
    assert await f.load(url) is None
    await f.aclose()
    assert not list(tmp_path.iterdir())


@pytest.mark.asyncio
async def test_concurrent_loads_of_one_url_fetch_it_once(site):
    import asyncio

    f = PromptFetcher(allow_private=True)
    prompts = await asyncio.gather(*(f.load(site.base + "/tone.mp3") for _ in range(10)))
    await f.aclose()
    assert all(p is prompts[0] for p in prompts) and prompts[0] is not None
    assert site.hits["/tone.mp3"] == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/a.wav",
        "http://10.1.2.3/a.wav",
        "http://169.254.169.254/latest",
        # forms the old check (ipaddress.is_global alone) let through
        "http://[64:ff9b::7f00:1]:1/a.wav",  # NAT64 of 127.0.0.1
        "http://[2002:7f00:1::]:1/a.wav",  # 6to4 of 127.0.0.1
        "http://[::127.0.0.1]:1/a.wav",  # IPv4-compatible
        "http://[fec0::1]:1/a.wav",  # site-local
        "http://224.0.0.1:1/a.wav",  # multicast
        "http://0177.0.0.1:1/a.wav",  # octal: 127.0.0.1 to the C resolver
        "http://127.0.0.1\x00.example.com/a.wav",  # NUL ends the host for C code
    ],
)
@pytest.mark.asyncio
async def test_private_and_ambiguous_addresses_are_refused_by_default(url):
    f = PromptFetcher()
    before = badinput.COUNTS.snapshot().get("unsafe_url", 0)
    assert await f.load(url) is None
    await f.aclose()
    assert f.requests <= 1  # refused inside the connection, or before any request
    assert badinput.COUNTS.snapshot()["unsafe_url"] == before + 1


@pytest.mark.asyncio
async def test_fetched_prompt_is_heard_by_its_leg_only_before_bridging(site):
    import asyncio
    import socket

    from vts_masking.media import g711, rtp
    from vts_masking.media.relay import PortAllocator, RelayedCall

    class Phone(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.received: list[bytes] = []

        def connection_made(self, transport) -> None:
            self.transport = transport

        def datagram_received(self, data, addr) -> None:
            self.received.append(data)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = min(s.getsockname()[1], 60000) & ~1
    loop = asyncio.get_running_loop()
    _, caller = await loop.create_datagram_endpoint(Phone, local_addr=("127.0.0.1", 0))
    _, callee = await loop.create_datagram_endpoint(Phone, local_addr=("127.0.0.1", 0))
    call = RelayedCall(PortAllocator("127.0.0.1", base, base + 20))
    call.a.set_remote(*caller.transport.get_extra_info("sockname")[:2], 8)  # PCMA caller
    call.b.set_remote(*callee.transport.get_extra_info("sockname")[:2], 0)

    site.files["/welcome.mp3"] = (make_mp3(440, 44100, 0.4), "audio/mpeg")
    fetcher = PromptFetcher(allow_private=True)
    prompt = await fetcher.load(site.base + "/welcome.mp3")
    await fetcher.aclose()
    assert prompt is not None
    assert await call.play("A", prompt.frames(call.a.codec)) is True
    await asyncio.sleep(0.05)
    call.close()

    got = [rtp.parse(d) for d in caller.received]
    assert len(got) == len(prompt.frames("PCMA")) and {p.payload_type for p in got} == {8}
    heard = g711.decode("PCMA", b"".join(p.payload for p in got))
    assert abs(dominant_freq(heard[800:3000]) - 440) < 10
    assert np.array_equal(
        heard[: len(prompt.samples)], g711.decode("PCMA", g711.encode("PCMA", prompt.samples))
    )
    assert callee.received == []  # not bridged: the other party hears nothing
    caller.transport.close()
    callee.transport.close()
    await asyncio.sleep(0)
