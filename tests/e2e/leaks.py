"""The leak check: every byte a phone received, searched for what identifies the other.

:class:`Capture` records loopback traffic to and from the test's phones with ``dumpcap``
(a capture filter on the phones' own ports, so other tests' traffic stays out). From the
capture, :func:`identity` gathers every identifying token a phone showed the service: its
number (as dialled and in national form), display name, address, SIP and RTP ports,
Call-IDs, tags, branches and Contact users, user agent, SDP origin user and session id,
``s=`` name, ``cname``\\ s, and the SSRCs and CSRCs of the RTP it sent. :func:`leaks` then
looks at what the *other* phone received: the text of every SIP message (headers and
SDP), every RTP header (SSRC, CSRC list, header extension, padding) and any RTCP, and
lists each token of the first phone found there. Tokens the receiving phone shows itself
(both phones are baresip: "baresip" is in both user agents) prove nothing and are left
out.

Capturing needs root (or dumpcap's capabilities); tests using it skip without.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DUMPCAP = shutil.which("dumpcap")
requires_capture = pytest.mark.skipif(
    DUMPCAP is None or os.geteuid() != 0,
    reason="packet capture needs dumpcap (Debian tshark) and root",
)


@dataclass
class Party:
    """What a test knows of a phone before the call: where it talks from and who it is."""

    name: str
    ip: str
    sip_port: int
    rtp_ports: tuple[int, int]  # inclusive
    number: str
    display: str | None = None
    extra: tuple[str, ...] = ()  # anything else it is known to show (a user agent)

    def owns(self, port: int) -> bool:
        return port == self.sip_port or self.rtp_ports[0] <= port <= self.rtp_ports[1]


@dataclass(frozen=True)
class Packet:
    src: str
    sport: int
    dst: str
    dport: int
    proto: str  # "udp" | "tcp"
    payload: bytes


class Capture:
    """``dumpcap`` on ``lo`` for the ports of ``parties``, as a context manager."""

    def __init__(self, workdir: Path, parties: Iterable[Party]) -> None:
        self.path = workdir / "capture.pcap"
        self.parties = list(parties)
        ports = []
        for p in self.parties:
            ports.append(f"port {p.sip_port}")
            ports.append(f"portrange {p.rtp_ports[0]}-{p.rtp_ports[1]}")
        self.filter = f"(udp or tcp) and ({' or '.join(ports)})"
        self.proc: subprocess.Popen[bytes] | None = None
        self._packets: list[Packet] | None = None

    def __enter__(self) -> Capture:
        assert DUMPCAP is not None
        self.proc = subprocess.Popen(
            [DUMPCAP, "-i", "lo", "-P", "-B", "16", "-f", self.filter, "-w", str(self.path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        # dumpcap says "Capturing on 'Loopback: lo'" once packets are being taken
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 10
        seen = b""
        while b"Capturing on" not in seen:
            line = self.proc.stderr.readline()
            if not line or time.monotonic() > deadline:
                raise RuntimeError(f"dumpcap did not start: {seen.decode(errors='replace')}")
            seen += line
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None:
            return
        time.sleep(0.3)  # the last packets of the call, still on their way
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    @property
    def packets(self) -> list[Packet]:
        if self._packets is None:
            self._packets = read_pcap(self.path)
        return self._packets


def read_pcap(path: Path) -> list[Packet]:
    """UDP and TCP payloads (IPv4 and IPv6) of a pcap file, in order."""
    data = path.read_bytes()
    if len(data) < 24:
        return []
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    (link,) = struct.unpack_from(endian + "I", data, 20)
    out: list[Packet] = []
    off = 24
    while off + 16 <= len(data):
        _s, _us, caplen, _len = struct.unpack_from(endian + "IIII", data, off)
        frame = data[off + 16 : off + 16 + caplen]
        off += 16 + caplen
        if link == 1:  # Ethernet (Linux loopback)
            etype = int.from_bytes(frame[12:14], "big")
            ip = frame[14:]
        elif link == 113:  # Linux cooked
            etype = int.from_bytes(frame[14:16], "big")
            ip = frame[16:]
        else:
            continue
        if etype == 0x0800 and len(ip) >= 20:
            ihl = (ip[0] & 0x0F) * 4
            proto, src, dst = ip[9], _ip4(ip[12:16]), _ip4(ip[16:20])
            seg = ip[ihl : int.from_bytes(ip[2:4], "big")]
        elif etype == 0x86DD and len(ip) >= 40:
            proto, src, dst = ip[6], ip[8:24].hex(), ip[24:40].hex()
            seg = ip[40 : 40 + int.from_bytes(ip[4:6], "big")]
        else:
            continue
        if proto == 17 and len(seg) >= 8:
            sport, dport = struct.unpack_from("!HH", seg)
            out.append(Packet(src, sport, dst, dport, "udp", seg[8:]))
        elif proto == 6 and len(seg) >= 20:
            sport, dport = struct.unpack_from("!HH", seg)
            doff = (seg[12] >> 4) * 4
            if len(seg) > doff:
                out.append(Packet(src, sport, dst, dport, "tcp", seg[doff:]))
    return out


def _ip4(b: bytes) -> str:
    return ".".join(str(x) for x in b)


# --------------------------------------------------------------------------- identity


@dataclass
class Identity:
    tokens: set[str] = field(default_factory=set)
    ssrcs: set[int] = field(default_factory=set)


_HEADER_VALUE = {
    "call-id": r"(?im)^(?:call-id|i)\s*:\s*(\S+)",
    "tag": r"(?i);\s*tag=([^;>\s,]+)",
    "branch": r"(?i);\s*branch=([^;>\s,]+)",
    "contact-user": r"(?im)^(?:contact|m)\s*:[^\n]*?<?sips?:([^@>;\s]+)@",
    "agent": r"(?im)^(?:user-agent|server)\s*:\s*([^\r\n]+)",
    "origin": r"(?m)^o=(\S+) (\d+)",
    "name": r"(?m)^s=([^\r\n]+)",
    "cname": r"(?im)^a=ssrc:\d+ cname:([^\r\n]+)",
    "ssrc": r"(?im)^a=ssrc:(\d+)",
    "address": r"(?m)^c=IN IP[46] ([^\s/]+)",
}


def _is_sip(payload: bytes) -> bool:
    return b"SIP/2.0" in payload[:200]


def _rtp_header(payload: bytes) -> tuple[int, int, tuple[int, ...], bool, bool] | None:
    """(payload type, SSRC, CSRCs, has extension, has padding) of an RTP packet."""
    if len(payload) < 12 or payload[0] >> 6 != 2 or 200 <= payload[1] <= 204:
        return None
    cc = payload[0] & 0x0F
    csrc = struct.unpack_from(f"!{cc}I", payload, 12) if len(payload) >= 12 + 4 * cc else ()
    return (
        payload[1] & 0x7F,
        int.from_bytes(payload[8:12], "big"),
        tuple(csrc),
        bool(payload[0] & 0x10),
        bool(payload[0] & 0x20),
    )


def _is_rtcp(payload: bytes) -> bool:
    return len(payload) >= 8 and payload[0] >> 6 == 2 and 200 <= payload[1] <= 204


def identity(capture: Capture, party: Party) -> Identity:
    """Every token ``party`` showed in what it sent, with what is known of it already."""
    ident = Identity()
    n = party.number
    digits = n.lstrip("+")
    ident.tokens |= {n, digits, digits[1:] if digits.startswith("1") else digits}
    ident.tokens |= {party.ip, str(party.sip_port), *party.extra}
    if party.display:
        ident.tokens.add(party.display)
        ident.tokens |= {w for w in party.display.split() if len(w) >= 4}
    for pkt in capture.packets:
        if not party.owns(pkt.sport):
            continue
        if pkt.sport == party.sip_port and _is_sip(pkt.payload):
            text = pkt.payload.decode("latin-1")
            for kind, pattern in _HEADER_VALUE.items():
                for m in re.finditer(pattern, text):
                    ident.tokens |= {g.strip() for g in m.groups() if g}
                    if kind == "agent":
                        ident.tokens |= {w for w in re.split(r"[\s()/]+", m.group(1)) if w}
        elif pkt.proto == "udp":
            head = _rtp_header(pkt.payload)
            if head is not None:
                ident.tokens.add(str(pkt.sport))
                ident.ssrcs.add(head[1])
                ident.ssrcs |= set(head[2])
            elif _is_rtcp(pkt.payload):
                ident.ssrcs.add(int.from_bytes(pkt.payload[4:8], "big"))
    return ident


# --------------------------------------------------------------------------- the check


def _found(token: str, text: str) -> bool:
    if token.isalnum():
        # a number or word on its own, not inside a longer one (a port in a branch id)
        return re.search(rf"(?<![0-9A-Za-z]){re.escape(token)}(?![0-9A-Za-z])", text) is not None
    return token in text


@dataclass
class Received:
    """What a phone received: SIP text, RTP headers, RTCP packets."""

    sip: list[str]
    rtp: list[tuple[int, int, tuple[int, ...], bool, bool]]
    rtcp: list[bytes]


def received(capture: Capture, party: Party) -> Received:
    sip, rtp, rtcp = [], [], []
    for pkt in capture.packets:
        if not party.owns(pkt.dport) or party.owns(pkt.sport):
            continue
        if pkt.dport == party.sip_port:
            sip.append(pkt.payload.decode("latin-1"))
        elif pkt.proto == "udp":
            head = _rtp_header(pkt.payload)
            if head is not None:
                rtp.append(head)
            elif _is_rtcp(pkt.payload):
                rtcp.append(pkt.payload)
    return Received(sip, rtp, rtcp)


def leaks(capture: Capture, source: Party, receiver: Party) -> list[str]:
    """What of ``source`` reached ``receiver`` (empty: nothing), as readable findings.

    Fails outright when ``receiver`` got no SIP or no RTP at all: a check over nothing
    proves nothing."""
    theirs = identity(capture, source)
    own = identity(capture, receiver)
    got = received(capture, receiver)
    assert got.sip, f"{receiver.name} received no SIP: nothing was captured"
    assert got.rtp, f"{receiver.name} received no RTP: nothing was captured"
    tokens = {t for t in theirs.tokens - own.tokens if len(t) >= 4}
    text = "\n".join(got.sip)
    found = []
    for token in sorted(tokens):
        if _found(token, text):
            i = text.find(token)
            found.append(f"{source.name}'s {token!r} in SIP: …{text[max(0, i - 60) : i + 40]!r}…")
    for pt, ssrc, csrc, ext, pad in got.rtp:
        if ssrc in theirs.ssrcs or set(csrc) & theirs.ssrcs:
            found.append(f"{source.name}'s SSRC {ssrc:#x} in RTP (pt {pt})")
        if csrc:
            found.append(f"a CSRC list {csrc} in RTP")
        if ext:
            found.append("an RTP header extension")
        if pad:
            found.append("RTP padding")
    if got.rtcp:
        found.append(f"{len(got.rtcp)} RTCP packets (the relay sends none)")
    return sorted(set(found))
