"""A session's calls told as timelines: a pure function of what the store already keeps.

Each interaction (one call, at most two legs: docs/calls.md#interactions-call-records-and-money)
becomes a :class:`CallStory`:
its legs' records give initiation, answer and hang-up (with the cause, billed duration
and amount), the session's events give the moments no record keeps (ringing, the
recording's start and end), and the entries are put in time order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..domain.views import TIME_FORMAT, fmt_money

PARTY = {"first": "First party", "second": "Second party"}


@dataclass(frozen=True)
class Entry:
    at: datetime
    what: str
    detail: str = ""
    kind: str = "info"  # info | ring | answer | hangup | failed | record


@dataclass
class CallStory:
    start_time: str | None
    end_time: str | None
    duration: int
    billed_duration: int
    amount: str
    legs: list[dict[str, Any]]
    recording_uuid: str | None
    entries: list[Entry] = field(default_factory=list)


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.strptime(value[:19], TIME_FORMAT)
        except ValueError:
            return None
    return None


def _uuid_of(url: str | None) -> str | None:
    return url.rstrip("/").rsplit("/", 1)[-1] if url else None


def _event_params(row: Any) -> dict[str, Any]:
    params = row.params if hasattr(row, "params") else row["params"]
    return json.loads(params) if isinstance(params, str) else dict(params or {})


def leg_entries(leg: Mapping[str, Any], ringing: datetime | None) -> list[Entry]:
    who = PARTY.get(leg.get("party") or "", "Leg")
    way = "called in" if leg["direction"] == "inbound" else "dialled"
    out = [
        Entry(
            leg["initiation_time"],
            f"{who} {way}",
            f"{leg['from_number']} → {leg['to_number']}",
            "info",
        )
    ]
    if ringing is not None:
        out.append(Entry(ringing, f"{who} ringing", "", "ring"))
    if leg.get("answer_time") is not None:
        out.append(Entry(leg["answer_time"], f"{who} answered", "", "answer"))
    if leg.get("end_time") is not None:
        cause = leg.get("hangup_cause") or "unknown"
        code = leg.get("hangup_cause_code")
        detail = f"{cause}" + (f" ({code})" if code is not None else "")
        if leg.get("answer_time") is not None:
            detail += (
                f" · talked {leg['duration']} s · billed {leg['billed_duration']} s"
                f" · {fmt_money(leg['amount'])}"
            )
            kind = "hangup"
        else:
            kind = "failed"
        out.append(Entry(leg["end_time"], f"{who} {leg['status']}", detail, kind))
    return out


def stories(
    view: Mapping[str, Any], legs: Iterable[Mapping[str, Any]], events: Iterable[Any]
) -> list[CallStory]:
    """The session's interactions, oldest first, each with its entries in time order."""
    by_uuid = {leg["uuid"]: leg for leg in legs}
    ringing: dict[str, datetime] = {}
    recording: dict[str, list[Entry]] = {}
    for row in events:
        name = row.event_name if hasattr(row, "event_name") else row["event_name"]
        params = _event_params(row)
        at = _parse(params.get("EventTimestamp"))
        if at is None:
            continue
        if name.endswith("PartyRinging") or name.endswith("PartyRing"):
            call = params.get("CallUUID")
            if call and (call not in ringing or at < ringing[call]):
                ringing[call] = at
        elif name.startswith("SessionRecording"):
            rec = params.get("RecordingUUID")
            if rec:
                what = {
                    "SessionRecordingInitiated": ("Recording started", "record"),
                    "SessionRecordingCompleted": ("Recording completed", "record"),
                    "SessionRecordingFailed": ("Recording failed", "failed"),
                }.get(name)
                if what is not None:
                    detail = (
                        f"{params['RecordingDuration']} s"
                        if params.get("RecordingDuration") not in (None, "")
                        else ""
                    )
                    recording.setdefault(rec, []).append(Entry(at, what[0], detail, what[1]))
    result: list[CallStory] = []
    for inter in view.get("interaction") or []:
        story = CallStory(
            start_time=inter["start_time"],
            end_time=inter["end_time"],
            duration=inter["duration"],
            billed_duration=inter["call_billed_duration"],
            amount=inter["total_call_amount"],
            legs=[],
            recording_uuid=_uuid_of(inter.get("recording_resource_url")),
        )
        entries: list[Entry] = []
        start = _parse(inter["start_time"])
        if start is not None:
            entries.append(Entry(start, "Call began", "", "info"))
        for key in ("first_party_resource_url", "second_party_resource_url"):
            leg = by_uuid.get(_uuid_of(inter.get(key)) or "")
            if leg is not None:
                story.legs.append(dict(leg))
                entries += leg_entries(leg, ringing.get(leg["uuid"]))
        if story.recording_uuid:
            entries += recording.get(story.recording_uuid, [])
        end = _parse(inter["end_time"])
        if end is not None:
            entries.append(
                Entry(
                    end,
                    "Call ended",
                    f"{inter['duration']} s · billed {inter['call_billed_duration']} s"
                    f" · {inter['total_call_amount']}",
                    "info",
                )
            )
        # Stable: what happened in the same second keeps the order it was told in.
        story.entries = sorted(entries, key=lambda e: e.at.replace(microsecond=0))
        result.append(story)
    return result
