"""SRTP per leg (media/srtp.py): SDES lines, offer/answer of keys, and libsrtp round trips
— keys of one leg never decrypt another's packets."""

from __future__ import annotations

import base64
import struct

import pytest

from vts_masking.media.srtp import (
    SUITES,
    CryptoAttribute,
    SrtpError,
    SrtpLeg,
    answer_crypto,
    chosen_by_answer,
    crypto_attributes,
    offer_crypto,
    parse_crypto,
)

# RFC 4568 §9.1's example line
RFC_LINE = (
    "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4"
)


def rtp(seq: int, payload: bytes = b"\xff" * 160, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + payload


def test_rfc4568_example_line_is_read() -> None:
    attr = parse_crypto(RFC_LINE)
    assert (attr.tag, attr.suite, len(attr.key)) == (1, "AES_CM_128_HMAC_SHA1_80", 30)


def test_written_line_reads_back() -> None:
    attr = offer_crypto(["AEAD_AES_128_GCM"])[0]
    assert parse_crypto(attr.value()) == attr


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("crypto:1 F8_128_HMAC_SHA1_80 inline:AAAA", "unsupported crypto suite"),
        ("crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!!", "not base64"),
        (
            "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(b"x" * 16).decode(),
            "needs 30 bytes",
        ),
        ("crypto:x AES_CM_128_HMAC_SHA1_80 inline:AAAA", "bad crypto tag"),
        ("crypto:1 AES_CM_128_HMAC_SHA1_80", "needs a tag, a suite"),
        (RFC_LINE.replace("|1:4", "|7:4"), "MKI not supported"),
        (RFC_LINE + " UNENCRYPTED_SRTP", "session parameters"),
        ("crypto:1 AES_CM_128_HMAC_SHA1_80 uri:http://x", "inline"),
    ],
)
def test_unusable_crypto_lines_are_refused_with_the_reason(value: str, why: str) -> None:
    with pytest.raises(SrtpError, match=why):
        parse_crypto(value)


def test_unusable_lines_are_skipped_among_usable_ones() -> None:
    lines = [("a", "crypto:1 F8_128_HMAC_SHA1_80 inline:AAAA"), ("a", RFC_LINE), ("a", "sendrecv")]
    assert [a.tag for a in crypto_attributes(lines)] == [1]


def test_answer_takes_the_first_usable_offer_with_a_key_of_our_own() -> None:
    offered = offer_crypto(["AES_CM_128_HMAC_SHA1_32", "AES_CM_128_HMAC_SHA1_80"])
    chosen = answer_crypto(offered)
    assert chosen is not None
    theirs, ours = chosen
    assert theirs is offered[0] and (ours.tag, ours.suite) == (1, "AES_CM_128_HMAC_SHA1_32")
    assert ours.key != theirs.key


def test_answer_to_our_offer_selects_the_line_it_names() -> None:
    offered = offer_crypto()
    answer = [CryptoAttribute(2, offered[1].suite, b"k" * SUITES[offered[1].suite][1])]
    picked = chosen_by_answer(offered, answer)
    assert picked is not None and picked[1] is offered[1]
    assert (
        chosen_by_answer(offered, [CryptoAttribute(2, "AES_CM_128_HMAC_SHA1_32", b"k" * 30)])
        is None
    )


@pytest.mark.parametrize("suite", list(SUITES))
def test_packets_protected_by_the_phone_are_unprotected_by_its_leg(suite: str) -> None:
    theirs, ours = answer_crypto(offer_crypto([suite])) or (None, None)
    assert theirs is not None and ours is not None
    relay_leg = SrtpLeg(theirs, ours)
    phone = SrtpLeg(ours, theirs)  # the phone's view: mirror image
    for seq in range(1, 4):
        packet = rtp(seq)
        srtp = phone.protect(packet)
        assert srtp is not None and srtp != packet
        assert relay_leg.unprotect(srtp) == packet
        back = relay_leg.protect(packet)
        assert back is not None and phone.unprotect(back) == packet


def test_another_legs_key_does_not_decrypt() -> None:
    a_theirs, a_ours = answer_crypto(offer_crypto()) or (None, None)
    b_theirs, b_ours = answer_crypto(offer_crypto()) or (None, None)
    assert a_theirs and a_ours and b_theirs and b_ours
    phone_a = SrtpLeg(a_ours, a_theirs)
    leg_b = SrtpLeg(b_theirs, b_ours)
    assert leg_b.unprotect(phone_a.protect(rtp(1)) or b"") is None
    assert leg_b.rejected == 1


def test_tampered_packet_is_rejected() -> None:
    theirs, ours = answer_crypto(offer_crypto()) or (None, None)
    assert theirs and ours
    srtp = bytearray(SrtpLeg(ours, theirs).protect(rtp(1)) or b"")
    srtp[20] ^= 1
    leg = SrtpLeg(theirs, ours)
    assert leg.unprotect(bytes(srtp)) is None and leg.rejected == 1


def test_replayed_packet_is_rejected() -> None:
    theirs, ours = answer_crypto(offer_crypto()) or (None, None)
    assert theirs and ours
    srtp = SrtpLeg(ours, theirs).protect(rtp(1)) or b""
    leg = SrtpLeg(theirs, ours)
    assert leg.unprotect(srtp) is not None
    assert leg.unprotect(srtp) is None


def test_directions_of_one_leg_must_share_a_suite() -> None:
    a = offer_crypto(["AES_CM_128_HMAC_SHA1_80"])[0]
    b = offer_crypto(["AES_CM_128_HMAC_SHA1_32"])[0]
    with pytest.raises(SrtpError):
        SrtpLeg(a, b)
