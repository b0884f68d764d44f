"""The SIP transport on real loopback sockets, on both event loops ``serve`` may run.

``vts-masking serve`` runs on uvloop (uvicorn's loop "auto"), whose transports are no
subclasses of asyncio's: every test here runs on the standard loop *and* on uvloop, so
a class check or another stdlib-only assumption fails here rather than in production.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop

from vts_masking.sip.message import Request, make_response
from vts_masking.sip.transaction import RequestReceived, ResponseReceived
from vts_masking.sip.transport import SipTransport, TuEvent

LOOPS = ["asyncio", "uvloop"]


def run(kind: str, fn: Callable[[], Awaitable[Any]]) -> Any:
    if kind == "uvloop":
        return uvloop.run(fn())
    return asyncio.run(fn())


def options(port: int, transport: str, branch: str = "z9hG4bK-t1", cl: bool = True) -> bytes:
    head = (
        f"OPTIONS sip:vts@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:9;branch={branch}\r\n"
        "From: <sip:a@127.0.0.1>;tag=a1\r\n"
        f"To: <sip:vts@127.0.0.1:{port}>\r\n"
        "Call-ID: t-1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\n"
    )
    return (head + ("Content-Length: 0\r\n" if cl else "") + "\r\n").encode()


class Answering:
    """A transaction user that answers every request 200 and keeps what it saw."""

    def __init__(self, transport: SipTransport) -> None:
        self.transport = transport
        self.events: list[TuEvent] = []
        transport.on_event = self.on_event

    def on_event(self, ev: TuEvent) -> None:
        self.events.append(ev)
        if isinstance(ev, RequestReceived) and ev.txn is not None:
            self.transport.respond(ev.txn, make_response(ev.request, 200))


async def read_response(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)


@pytest.mark.parametrize("loop", LOOPS)
def test_request_over_accepted_tcp_connection_is_answered(loop: str) -> None:
    async def main() -> bytes:
        t = SipTransport("127.0.0.1", 0)
        Answering(t)
        await t.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", t.port)
            writer.write(options(t.port, "TCP"))
            data = await read_response(reader)
            writer.close()
            return data
        finally:
            await t.close()

    assert run(loop, main).startswith(b"SIP/2.0 200")


@pytest.mark.parametrize("loop", LOOPS)
def test_request_sent_over_outbound_tcp_connection_gets_its_response(loop: str) -> None:
    async def main() -> list[int]:
        got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            got.set_result(head)
            from vts_masking.sip.message import parse_message

            req = parse_message(head)
            assert isinstance(req, Request)
            writer.write(make_response(req, 200).to_bytes())
            await writer.drain()

        server = await asyncio.start_server(peer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        t = SipTransport("127.0.0.1", 0)
        seen = Answering(t)
        await t.start()
        try:
            from vts_masking.sip.message import parse_message

            req = parse_message(options(port, "TCP"))
            assert isinstance(req, Request)
            req.headers.set("Via", t.via("tcp"))
            t.send_request(req, ("127.0.0.1", port), "tcp")
            await asyncio.wait_for(got, 5)
            for _ in range(100):
                if any(isinstance(e, ResponseReceived) for e in seen.events):
                    break
                await asyncio.sleep(0.02)
            return [e.response.status for e in seen.events if isinstance(e, ResponseReceived)]
        finally:
            await t.close()
            server.close()

    assert run(loop, main) == [200]


@pytest.mark.parametrize("loop", LOOPS)
def test_silent_tcp_connection_is_closed_after_the_idle_timeout(loop: str) -> None:
    async def main() -> tuple[bytes, int]:
        t = SipTransport("127.0.0.1", 0, tcp_idle_timeout=0.3)
        await t.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", t.port)
            data = await asyncio.wait_for(reader.read(), 5)  # b"" once we close it
            writer.close()
            return data, t.stats["tcp_idle_closed"]
        finally:
            await t.close()

    assert run(loop, main) == (b"", 1)


@pytest.mark.parametrize("loop", LOOPS)
def test_idle_tcp_connection_a_call_still_uses_is_kept(loop: str) -> None:
    async def main() -> tuple[bytes, int]:
        t = SipTransport("127.0.0.1", 0, tcp_idle_timeout=0.2)
        asked: list[tuple[str, int]] = []

        def in_use(addr: tuple[str, int]) -> bool:
            asked.append(addr)
            return True

        t.in_use = in_use
        Answering(t)
        await t.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", t.port)
            while len(asked) < 3:
                await asyncio.sleep(0.05)
            # still open: a request on it is answered
            writer.write(options(t.port, "TCP"))
            data = await read_response(reader)
            writer.close()
            return data[:11], t.stats["tcp_idle_closed"]
        finally:
            await t.close()

    assert run(loop, main) == (b"SIP/2.0 200", 0)


@pytest.mark.parametrize("loop", LOOPS)
def test_tcp_connection_holding_more_than_the_cap_unframed_is_closed(loop: str) -> None:
    async def main() -> tuple[bytes, int]:
        t = SipTransport("127.0.0.1", 0, tcp_max_buffer=4096)
        await t.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", t.port)
            # headers that never end: each line is fine, the message never completes
            writer.write(options(t.port, "TCP", cl=False)[:-2])
            for _ in range(100):
                writer.write(b"X-Filler: " + b"y" * 80 + b"\r\n")
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return data, t.stats["tcp_overflow"]
        finally:
            await t.close()

    assert run(loop, main) == (b"", 1)


@pytest.mark.parametrize("loop", LOOPS)
def test_udp_request_is_answered(loop: str) -> None:
    async def main() -> bytes:
        t = SipTransport("127.0.0.1", 0)
        Answering(t)
        await t.start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        try:
            sock.sendto(options(t.port, "UDP"), ("127.0.0.1", t.port))
            return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 4096), 5)
        finally:
            sock.close()
            await t.close()

    assert run(loop, main).startswith(b"SIP/2.0 200")


def test_a_flood_of_malformed_datagrams_is_counted_but_logged_a_few_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> dict[str, int]:
        t = SipTransport("127.0.0.1", 0)
        await t.start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for i in range(200):
                sock.sendto(b"GARBAGE %d\r\n\r\n" % i, ("127.0.0.1", t.port))
            for _ in range(200):
                if t.stats["malformed"] >= 200:
                    break
                await asyncio.sleep(0.02)
            return dict(t.stats)
        finally:
            sock.close()
            await t.close()

    with caplog.at_level(logging.WARNING, logger="vts_masking.sip"):
        stats = run("uvloop", main)
    warnings = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert stats["malformed"] == 200
    assert 1 <= len(warnings) <= 5
