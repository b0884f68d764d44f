"""The number's own application (docs/calls.md): a small subset of voice-XML verbs.

A number's ``answer_url`` returns a document like::

    <Response>
      <Play>https://example.com/welcome.mp3</Play>
      <Wait length="2"/>
      <Dial callerId="+12205550020" timeout="30" timeLimit="600">
        <Number>+14155550100</Number>
      </Dial>
      <Hangup/>
    </Response>

:func:`parse` turns it into verbs or raises :class:`AppXmlError` with the reason;
anything outside the subset is refused (never guessed at).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from . import phone
from .coerce import is_number

MAX_DOCUMENT = 64 * 1024
MAX_VERBS = 50


class AppXmlError(ValueError):
    """The application's answer is not a document we run."""


@dataclass(frozen=True)
class Play:
    url: str
    loop: int = 1


@dataclass(frozen=True)
class Wait:
    length: int = 1


@dataclass(frozen=True)
class Hangup:
    reason: str | None = None


@dataclass(frozen=True)
class Dial:
    numbers: tuple[str, ...]
    caller_id: str | None = None
    timeout: int | None = None
    time_limit: int | None = None


Verb = Play | Wait | Hangup | Dial


def _int_attr(element: ET.Element, name: str, low: int, high: int) -> int | None:
    raw = element.get(name)
    if raw is None:
        return None
    if not is_number(raw.strip()):
        raise AppXmlError(f"<{element.tag}> {name}={raw!r} is not a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise AppXmlError(f"<{element.tag}> {name}={value} is outside {low}..{high}")
    return value


def _url(text: str | None) -> str:
    url = (text or "").strip()
    if not url.startswith(("http://", "https://")) or len(url) >= 1000:
        raise AppXmlError("<Play> needs an http(s) URL")
    return url


def parse(document: bytes | str) -> list[Verb]:
    """Parse an application document into its verbs, in order."""
    if len(document) > MAX_DOCUMENT:
        raise AppXmlError("document too large")
    if isinstance(document, bytes) and b"<!DOCTYPE" in document.upper():
        raise AppXmlError("DOCTYPE is not allowed")  # no entities, internal or external
    if isinstance(document, str) and "<!DOCTYPE" in document.upper():
        raise AppXmlError("DOCTYPE is not allowed")
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise AppXmlError(f"not well-formed XML ({exc})") from None
    if root.tag != "Response":
        raise AppXmlError(f"root element is <{root.tag}>, expected <Response>")
    if len(root) > MAX_VERBS:
        raise AppXmlError("too many verbs")
    verbs: list[Verb] = []
    for element in root:
        if element.tag == "Play":
            verbs.append(Play(_url(element.text), _int_attr(element, "loop", 1, 10) or 1))
        elif element.tag == "Wait":
            verbs.append(Wait(_int_attr(element, "length", 0, 60) or 1))
        elif element.tag == "Hangup":
            verbs.append(Hangup(element.get("reason")))
        elif element.tag == "Dial":
            numbers = []
            for child in element:
                if child.tag != "Number":
                    raise AppXmlError(f"<Dial> may only hold <Number>, not <{child.tag}>")
                try:
                    numbers.append(phone.normalize((child.text or "").strip()))
                except phone.InvalidNumber:
                    raise AppXmlError(f"<Number>{child.text}</Number> is not valid") from None
            if not numbers:
                raise AppXmlError("<Dial> needs a <Number>")
            caller_id = element.get("callerId")
            if caller_id is not None:
                try:
                    caller_id = phone.normalize(caller_id)
                except phone.InvalidNumber:
                    raise AppXmlError(f"callerId={caller_id!r} is not valid") from None
            verbs.append(
                Dial(
                    tuple(numbers),
                    caller_id,
                    _int_attr(element, "timeout", 1, 300),
                    _int_attr(element, "timeLimit", 1, 14_400),
                )
            )
        else:
            raise AppXmlError(f"<{element.tag}> is not supported")
    return verbs
