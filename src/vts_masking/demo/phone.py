"""A small SIP phone for the demo, on the project's own SIP core (``sip.transport`` runs
the sans-I/O transaction layer; ``sip.dialog`` builds ACK and BYE).

It knows nothing of sessions: it places a call (:meth:`Phone.call`) or answers every
INVITE it gets (``auto_answer``), exchanges a little G.711 RTP with the far end, and keeps
the raw text of every request it received, so the demo can show what each party saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

from ..media import g711
from ..media.rtp import RtpPacket, looks_like_rtp
from ..sip.dialog import Dialog
from ..sip.message import Headers, Request, make_response, new_call_id, new_tag
from ..sip.sdp import parse_sdp
from ..sip.transaction import RequestReceived, ResponseReceived, TransactionTimeout
from ..sip.transport import SipTransport

PACKETS = 25  # 0.5 s of 20 ms G.711 frames each way: enough to show media flows


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self, phone: Phone) -> None:
        self.phone = phone

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if looks_like_rtp(data):
            self.phone.rtp_received += 1


@dataclass
class Phone:
    """One party. ``number`` is what it puts in From when it calls."""

    number: str
    auto_answer: bool = False
    host: str = "127.0.0.1"
    received: list[str] = field(default_factory=list)  # every message in, as text
    rtp_received: int = 0
    rtp_sent: int = 0
    final_status: int | None = None

    def __post_init__(self) -> None:
        self.sip = SipTransport(self.host, 0)
        self.sip.on_event = self._on_event
        self._rtp_sock: socket.socket | None = None
        self._rtp: asyncio.DatagramTransport | None = None
        self._answer: asyncio.Future[Any] | None = None
        self._hung_up = asyncio.Event()
        self._dialog: Dialog | None = None
        self._remote_media: tuple[str, int] | None = None

    @property
    def port(self) -> int:
        return self.sip.port

    async def start(self) -> None:
        await self.sip.start()
        loop = asyncio.get_running_loop()
        self._rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Rtp(self), local_addr=(self.host, 0)
        )

    async def stop(self) -> None:
        if self._rtp is not None:
            self._rtp.close()
        await self.sip.close()

    @property
    def rtp_port(self) -> int:
        assert self._rtp is not None
        return int(self._rtp.get_extra_info("sockname")[1])

    def _sdp(self) -> bytes:
        sid = secrets.randbelow(2**31)
        return (
            f"v=0\r\no=- {sid} 1 IN IP4 {self.host}\r\ns=-\r\nc=IN IP4 {self.host}\r\n"
            f"t=0 0\r\nm=audio {self.rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=sendrecv\r\n"
        ).encode()

    def _media_of(self, body: bytes) -> tuple[str, int] | None:
        try:
            sd = parse_sdp(body)
        except ValueError:
            return None
        audio = next((m for m in sd.media if m.kind == "audio" and m.port), None)
        if audio is None:
            return None
        return audio.connection or sd.connection or self.host, audio.port

    # -- placing a call -----------------------------------------------------------------

    async def call(self, dialled: str, service: tuple[str, int], *, talk: float = 0.6) -> int:
        """Dial ``dialled`` at ``service``, talk for ``talk`` seconds, hang up. Returns
        the final status of the INVITE (200 when answered)."""
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        h = Headers()
        h.add("Via", self.sip.via())
        h.add("Max-Forwards", "70")
        h.add("From", f"<sip:{self.number}@{self.host}>;tag={new_tag()}")
        h.add("To", f"<sip:{dialled}@{service[0]}>")
        h.add("Call-ID", new_call_id())
        h.add("CSeq", "1 INVITE")
        h.add("Contact", self.sip.contact(self.number.lstrip("+")))
        h.add("Content-Type", "application/sdp")
        invite = Request("INVITE", f"sip:{dialled}@{service[0]}:{service[1]}", h, self._sdp())
        txn = self.sip.send_request(invite, service)
        txn.context = invite
        response = await asyncio.wait_for(self._answer, 20)
        self.final_status = response.status
        if response.status != 200:
            return response.status
        dialog = Dialog.as_uac(invite, response)
        ack = dialog.create_ack(invite.cseq.number, self.sip.via())
        self.sip.send_stateless(ack, service)
        self._remote_media = self._media_of(response.body)
        await self._talk(talk)
        bye = dialog.create_request("BYE", self.sip.via())
        self._answer = loop.create_future()
        self.sip.send_request(bye, service)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._answer, 10)
        return 200

    async def _talk(self, seconds: float) -> None:
        """Send a 440 Hz tone as PCMU for ``seconds`` (20 ms frames) to the far end."""
        if self._remote_media is None or self._rtp is None:
            await asyncio.sleep(seconds)
            return
        ssrc = secrets.randbits(32)
        import numpy as np

        t = np.arange(160) / 8000.0
        frames = int(seconds / 0.02)
        for n in range(frames):
            samples = (8000 * np.sin(2 * math.pi * 440 * (t + n * 0.02))).astype(np.int16)
            payload = g711.encode("PCMU", samples)
            packet = RtpPacket(0, n, n * 160, ssrc, payload, marker=n == 0).build()
            self._rtp.sendto(packet, self._remote_media)
            self.rtp_sent += 1
            await asyncio.sleep(0.02)

    # -- answering ----------------------------------------------------------------------

    async def wait_hangup(self, timeout: float = 20.0) -> None:
        await asyncio.wait_for(self._hung_up.wait(), timeout)

    def _on_event(self, event: Any) -> None:
        if isinstance(event, ResponseReceived):
            self.received.append(event.response.to_bytes().decode(errors="replace"))
            if event.response.status >= 200 and self._answer and not self._answer.done():
                self._answer.set_result(event.response)
            return
        if isinstance(event, TransactionTimeout):
            if self._answer and not self._answer.done():
                self._answer.set_exception(TimeoutError("no answer"))
            return
        if not isinstance(event, RequestReceived):
            return
        req = event.request
        self.received.append(req.to_bytes().decode(errors="replace"))
        txn = event.txn
        if req.method == "INVITE" and txn is not None and self.auto_answer:
            tag = new_tag()
            self.sip.respond(txn, make_response(req, 180, to_tag=tag))
            self._remote_media = self._media_of(req.body)
            answer = make_response(
                req,
                200,
                to_tag=tag,
                body=self._sdp(),
                extra=(("Contact", self.sip.contact()), ("Content-Type", "application/sdp")),
            )
            self.sip.respond(txn, answer)
            asyncio.get_running_loop().create_task(self._talk(0.6))
        elif req.method == "BYE" and txn is not None:
            self.sip.respond(txn, make_response(req, 200))
            self._hung_up.set()
        elif txn is not None and req.method != "ACK":
            self.sip.respond(txn, make_response(req, 200))
