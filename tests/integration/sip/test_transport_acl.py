"""The transport's access list on a real socket: a request from outside is answered 403
without a transaction and never reaches the transaction user; an allowed one does."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.unit.sip.samples import INVITE
from vts_masking.sip.acl import AccessList
from vts_masking.sip.transport import SipTransport


async def exchange(acl: AccessList) -> tuple[bytes, list[object], SipTransport]:
    seen: list[object] = []
    transport = SipTransport("127.0.0.1", 0, on_event=seen.append)
    transport.acl = acl
    await transport.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendto(sock, INVITE, ("127.0.0.1", transport.port))
        reply = b""
        if not acl.allows("127.0.0.1"):
            reply = await asyncio.wait_for(loop.sock_recv(sock, 4096), 2)
        else:
            await asyncio.sleep(0.1)
        return reply, seen, transport
    finally:
        sock.close()
        await transport.close()


@pytest.mark.asyncio
async def test_request_from_outside_the_list_gets_403_and_no_event() -> None:
    reply, seen, transport = await exchange(AccessList.of([], allow_loopback=False))
    assert reply.startswith(b"SIP/2.0 403")
    assert b"tag=" in reply.split(b"\r\nTo:", 1)[1].split(b"\r\n", 1)[0]
    assert seen == [] and len(transport.layer) == 0  # no transaction kept
    assert transport.stats["refused"] == 1 and transport.acl is not None
    assert transport.acl.refused == {"127.0.0.1": 1}


@pytest.mark.asyncio
async def test_request_from_an_allowed_source_reaches_the_transaction_user() -> None:
    _, seen, transport = await exchange(AccessList.of(["127.0.0.1/32"], allow_loopback=False))
    assert len(seen) == 1 and transport.stats["refused"] == 0
