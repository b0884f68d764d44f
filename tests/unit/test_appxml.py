"""The number's application documents (docs/calls.md#the-numbers-own-application): what is run, what is refused."""

from __future__ import annotations

import pytest

from vts_masking.domain.appxml import AppXmlError, Dial, Hangup, Play, Wait, parse


def test_the_whole_subset_parses_in_order() -> None:
    verbs = parse(
        b"""<Response><Play loop="2">https://e.com/a.mp3</Play><Wait length="3"/>
        <Dial callerId="+1 220 555 0020" timeout="30" timeLimit="600"><Number>+14155550100</Number></Dial>
        <Hangup/></Response>"""
    )
    assert verbs == [
        Play("https://e.com/a.mp3", 2),
        Wait(3),
        Dial(("+14155550100",), "+12205550020", 30, 600),
        Hangup(None),
    ]


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"<Response><Record/></Response>", "<Record> is not supported"),
        (b"<Reply/>", "expected <Response>"),
        (b"<Response><Dial/></Response>", "needs a <Number>"),
        (b"<Response><Dial><Number>12</Number></Dial></Response>", "is not valid"),
        (b"<Response><Wait length='x'/></Response>", "not a whole number"),
        (b"<Response><Wait length='99'/></Response>", "outside"),
        (b"<Response><Play>ftp://e.com/a</Play></Response>", "http(s) URL"),
        (b"<Response>", "not well-formed"),
        (b'<!DOCTYPE r [<!ENTITY a "aaaa">]><Response/>', "DOCTYPE"),
    ],
)
def test_anything_else_is_refused_with_a_reason(document: bytes, reason: str) -> None:
    with pytest.raises(AppXmlError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse(document)


def test_an_attribute_of_non_ascii_digits_is_refused_not_a_crash() -> None:
    with pytest.raises(AppXmlError, match="whole number"):
        parse("<Response><Wait length='\u00b2'/></Response>".encode())
