"""SIP dialogs (RFC 3261 §12) without I/O: the state two user agents share after INVITE.

A :class:`Dialog` remembers Call-ID, both tags, both URIs, the route set, the remote target,
our CSeq counter and the peer's last CSeq. It builds in-dialog requests (ACK for a 2xx,
BYE, re-INVITE, UPDATE, INFO...) and checks incoming ones for order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vts_masking.sip.message import (
    Headers,
    Request,
    Response,
    SipParseError,
    new_tag,
    parse_name_addr,
)

__all__ = ["Dialog", "DialogError"]


class DialogError(ValueError):
    """A message cannot create or belong to this dialog."""


@dataclass(slots=True)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str | None
    # Plain strings and tuples on purpose: a dialog lives as long as its call, and the
    # garbage collector does not track these (thousands of calls are up at once).
    local_uri: str  # the From/To value of our side, without tag
    remote_uri: str  # the peer's, without tag
    remote_target: str
    local_contact: str
    route_set: tuple[str, ...] = ()
    local_cseq: int = 1
    remote_cseq: int | None = None
    secure: bool = False
    confirmed: bool = True

    @property
    def id(self) -> tuple[str, str, str | None]:
        return (self.call_id, self.local_tag, self.remote_tag)

    # -- creation
    @classmethod
    def as_uac(cls, request: Request, response: Response) -> Dialog:
        """Dialog of the side that sent ``request`` (INVITE) and got ``response`` (1xx/2xx)."""
        to = response.to
        if to.tag is None:
            raise DialogError("response without To tag")
        contact = response.contact
        if contact is None:
            raise DialogError("response without Contact")
        frm = request.from_
        if frm.tag is None:
            raise DialogError("request without From tag")
        # §12.1.2: route set is Record-Route of the response, reversed.
        rr = tuple(reversed(response.headers.get_all("record-route")))
        return cls(
            call_id=request.call_id,
            local_tag=frm.tag,
            remote_tag=to.tag,
            local_uri=str(frm.without_tag()),
            remote_uri=str(to.without_tag()),
            remote_target=str(contact.uri),
            local_contact=request.headers.get("contact") or "",
            route_set=rr,
            local_cseq=request.cseq.number,
            remote_cseq=None,
            secure=request.uri.lower().startswith("sips:"),
            confirmed=response.status >= 200,
        )

    @classmethod
    def as_uas(cls, request: Request, local_contact: str, local_tag: str | None = None) -> Dialog:
        """Dialog of the side answering ``request`` (INVITE) with ``local_tag``."""
        frm = request.from_
        if frm.tag is None:
            raise DialogError("request without From tag")
        contact = request.contact
        if contact is None:
            raise DialogError("request without Contact")
        return cls(
            call_id=request.call_id,
            local_tag=local_tag or new_tag(),
            remote_tag=frm.tag,
            local_uri=str(request.to.without_tag()),
            remote_uri=str(frm.without_tag()),
            remote_target=str(contact.uri),
            local_contact=local_contact,
            route_set=tuple(request.headers.get_all("record-route")),
            local_cseq=0,
            remote_cseq=request.cseq.number,
            secure=request.uri.lower().startswith("sips:"),
        )

    # -- incoming
    def matches(self, message: Request | Response) -> bool:
        try:
            if message.call_id != self.call_id:
                return False
            if isinstance(message, Request):
                return message.to.tag == self.local_tag and message.from_.tag == self.remote_tag
            return message.from_.tag == self.local_tag and message.to.tag == self.remote_tag
        except SipParseError:
            return False

    def check_remote_cseq(self, request: Request) -> bool:
        """§12.2.2: a lower CSeq than the last one is out of order (answer 500).

        ACK and CANCEL reuse their INVITE's number and are always accepted."""
        if request.method in ("ACK", "CANCEL"):
            return True
        n = request.cseq.number
        if self.remote_cseq is not None and n <= self.remote_cseq:
            return False
        self.remote_cseq = n
        return True

    def update_target(self, message: Request | Response) -> None:
        """A target refresh (re-INVITE, UPDATE or its 2xx) moves the remote target."""
        contact = message.contact
        if contact is not None:
            self.remote_target = str(contact.uri)

    # -- outgoing
    def _headers(self, via: str, cseq: int, method: str) -> tuple[str, Headers]:
        h = Headers()
        h.add("Via", via)
        uri = self.remote_target
        routes = list(self.route_set)
        if routes:
            first = parse_name_addr(routes[0])
            if "lr" not in first.uri.params:
                # Strict router (§12.2.1.1): it becomes the R-URI, the target goes last.
                uri = str(first.uri)
                routes = [*routes[1:], f"<{self.remote_target}>"]
        for r in routes:
            h.add("Route", r)
        h.add("Max-Forwards", "70")
        h.add("From", f"{self.local_uri};tag={self.local_tag}")
        to = self.remote_uri
        if self.remote_tag:
            to += f";tag={self.remote_tag}"
        h.add("To", to)
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{cseq} {method}")
        return uri, h

    def create_request(
        self,
        method: str,
        via: str,
        body: bytes = b"",
        content_type: str | None = None,
        extra: Iterable[tuple[str, str]] = (),
    ) -> Request:
        """A new in-dialog request (BYE, INVITE, UPDATE, INFO, ...) with the next CSeq."""
        if method in ("ACK", "CANCEL"):
            raise DialogError(f"{method} reuses its INVITE's CSeq; use create_ack")
        self.local_cseq += 1
        uri, h = self._headers(via, self.local_cseq, method)
        if method in ("INVITE", "UPDATE") and self.local_contact:
            h.add("Contact", self.local_contact)
        for name, value in extra:
            h.add(name, value)
        if body:
            h.add("Content-Type", content_type or "application/sdp")
        return Request(method, uri, h, body)

    def create_ack(
        self, invite_cseq: int, via: str, body: bytes = b"", content_type: str | None = None
    ) -> Request:
        """ACK for a 2xx to the INVITE with CSeq ``invite_cseq`` (§13.2.2.4)."""
        uri, h = self._headers(via, invite_cseq, "ACK")
        if body:
            h.add("Content-Type", content_type or "application/sdp")
        return Request("ACK", uri, h, body)
