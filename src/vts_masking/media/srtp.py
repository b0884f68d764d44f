"""SRTP for one relay leg: SDES keys (RFC 4568) and libsrtp's protect/unprotect.

Each leg of a relayed call that speaks SRTP has its own pair of keys: the phone's (from
its ``a=crypto`` line: we *unprotect* what it sends with it) and ours (a fresh random key
we put in the SDP we send that phone: we *protect* what we send it). Nothing of one leg's
keys is ever used on, or written towards, the other leg: the relay decrypts on the way in
and encrypts on the way out, so a carrier leg can be SRTP while a phone leg is RTP, or
both SRTP with unrelated keys. The packet path in between (bridging, payload type
rewrites, transcoding, prompts, recording taps) sees plain RTP only.

Crypto suites (SDES names, strongest first in our offers): AEAD_AES_256_GCM,
AEAD_AES_128_GCM (RFC 7714), AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32 (RFC 4568).
Lifetime and MKI parameters are accepted when they do not need MKI on the wire (``1:1``
or absent); session parameters (``UNENCRYPTED_SRTP`` and friends) make a line unusable.
The crypto is libsrtp's, through PyPI's ``pylibsrtp`` — none of our own.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import pylibsrtp

__all__ = [
    "SUITES",
    "CryptoAttribute",
    "SrtpError",
    "SrtpLeg",
    "answer_crypto",
    "chosen_by_answer",
    "crypto_attributes",
    "new_key",
    "offer_crypto",
    "parse_crypto",
]


class SrtpError(ValueError):
    """An ``a=crypto`` line or key we cannot use."""


#: SDES suite → (libsrtp profile, master key + salt length in bytes), strongest first
SUITES: dict[str, tuple[int, int]] = {
    "AEAD_AES_256_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
    "AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    "AES_CM_128_HMAC_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "AES_CM_128_HMAC_SHA1_32": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 30),
}
#: what we offer when we start SRTP towards a trunk (the widely deployed suite first:
#: GCM over SDES is still rare in carrier equipment)
DEFAULT_OFFER = ("AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_32")


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """One ``a=crypto:<tag> <suite> inline:<key||salt>[|lifetime][|mki:len]`` line."""

    tag: int
    suite: str
    key: bytes  # master key followed by master salt

    def value(self) -> str:
        """The attribute value (what follows ``a=``)."""
        return f"crypto:{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode()}"


def parse_crypto(value: str) -> CryptoAttribute:
    """Parse an attribute value ``crypto:...`` (as in an SDP ``a=`` line)."""
    if not value.lower().startswith("crypto:"):
        raise SrtpError("not a crypto attribute")
    parts = value[7:].split()
    if len(parts) < 3:
        raise SrtpError("crypto attribute needs a tag, a suite and key parameters")
    tag_text, suite, key_params = parts[0], parts[1].upper(), parts[2]
    if len(parts) > 3:
        raise SrtpError(f"session parameters not supported: {' '.join(parts[3:])}")
    if not (tag_text.isascii() and tag_text.isdigit() and len(tag_text) <= 9):
        raise SrtpError(f"bad crypto tag {tag_text!r}")
    if suite not in SUITES:
        raise SrtpError(f"unsupported crypto suite {suite}")
    if ";" in key_params:
        raise SrtpError("several master keys (one line, several inline:) not supported")
    if not key_params.lower().startswith("inline:"):
        raise SrtpError("key method must be inline")
    fields = key_params[7:].split("|")
    for extra in fields[1:]:
        if ":" in extra:  # MKI: value:length — only a lone key (MKI 1) works without MKI
            mki, _, _length = extra.partition(":")
            if mki != "1":
                raise SrtpError("MKI not supported")
        elif not (extra.startswith("2^") or extra.isdigit()):
            raise SrtpError(f"bad key parameter {extra!r}")
    try:
        key = base64.b64decode(fields[0], validate=True)
    except (binascii.Error, ValueError):
        raise SrtpError("key is not base64") from None
    if len(key) != SUITES[suite][1]:
        raise SrtpError(f"{suite} needs {SUITES[suite][1]} bytes of key and salt, got {len(key)}")
    return CryptoAttribute(int(tag_text), suite, key)


def crypto_attributes(lines: Iterable[tuple[str, str]]) -> list[CryptoAttribute]:
    """The usable ``a=crypto`` lines of a media section, in the sender's order."""
    out = []
    for kind, value in lines:
        if kind == "a" and value.lower().startswith("crypto:"):
            try:
                out.append(parse_crypto(value))
            except SrtpError:
                continue  # an unusable line among others: the others may do
    return out


def new_key(suite: str) -> bytes:
    return secrets.token_bytes(SUITES[suite][1])


def offer_crypto(suites: Iterable[str] = DEFAULT_OFFER) -> list[CryptoAttribute]:
    """Our offer: one line per suite, each with its own fresh key (tags 1, 2, ...)."""
    return [CryptoAttribute(i, s, new_key(s)) for i, s in enumerate(suites, 1)]


def answer_crypto(
    offered: list[CryptoAttribute],
) -> tuple[CryptoAttribute, CryptoAttribute] | None:
    """RFC 4568 §7.1.2: accept the first offered line we support; answer it with the same
    tag and suite and a key of our own. (theirs, ours), or None if none is usable."""
    for attr in offered:
        if attr.suite in SUITES:
            return attr, CryptoAttribute(attr.tag, attr.suite, new_key(attr.suite))
    return None


def chosen_by_answer(
    offered: list[CryptoAttribute], answered: list[CryptoAttribute]
) -> tuple[CryptoAttribute, CryptoAttribute] | None:
    """Our offer ``offered`` answered with ``answered``: (theirs, ours) for the tag the
    answer picked (same suite), or None if the answer fits none of our lines."""
    ours = {a.tag: a for a in offered}
    for attr in answered:
        mine = ours.get(attr.tag)
        if mine is not None and mine.suite == attr.suite:
            return attr, mine
    return None


class SrtpLeg:
    """The two directions of one leg: unprotect with the phone's key, protect with ours.

    ``rejected`` counts packets that failed authentication or replay checks (dropped).
    """

    __slots__ = ("_rx", "_tx", "local", "rejected", "remote", "suite")

    def __init__(self, remote: CryptoAttribute, local: CryptoAttribute) -> None:
        if remote.suite != local.suite:
            raise SrtpError("both directions of a leg use one suite")
        profile = SUITES[remote.suite][0]
        self.suite = remote.suite
        self.remote = remote
        self.local = local
        self._rx = pylibsrtp.Session(
            pylibsrtp.Policy(remote.key, pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
        )
        self._tx = pylibsrtp.Session(
            pylibsrtp.Policy(local.key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
        )
        self.rejected = 0

    def unprotect(self, packet: bytes) -> bytes | None:
        """The RTP inside an SRTP packet from the phone; None if it does not authenticate."""
        try:
            return self._rx.unprotect(packet)
        except pylibsrtp.Error:
            self.rejected += 1
            return None

    def protect(self, packet: bytes) -> bytes | None:
        """An RTP packet encrypted for the phone; None if libsrtp refuses it (a replayed
        sequence number of a stream, say): dropped like any lost packet."""
        try:
            return self._tx.protect(packet)
        except pylibsrtp.Error:
            return None
