"""The console's pure parts: SVG charts and the call timeline (no I/O)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

from vts_masking.console import charts, timeline

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def test_nice_ceiling_rounds_up_to_one_two_or_five() -> None:
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 12, 51, 2000)] == [
        1,
        1,
        5,
        10,
        20,
        100,
        2000,
    ]


def test_a_column_chart_has_one_bar_per_point_scaled_to_the_largest() -> None:
    svg = parse(charts.column_chart([("00:00", 0), ("01:00", 5), ("02:00", 10)], title="t"))
    bars = svg.findall(f"{SVG}rect")
    assert [int(b.get("data-value") or -1) for b in bars] == [0, 5, 10]
    heights = [float(b.get("height") or 0) for b in bars]
    assert heights[0] == 0 and heights[2] == 2 * heights[1]


def test_chart_labels_are_escaped() -> None:
    text = str(charts.column_chart([("<script>", 1)], title='"><b>', every=1))
    assert "<script>" not in text and "&lt;script&gt;" in text
    parse(text)  # still well-formed
    stacked = str(charts.stacked_bars([charts.Stack("<x>", (("in_use", 1),))], title="<t>"))
    assert "<x>" not in stacked
    parse(stacked)


def test_stacked_bars_split_each_pool_by_kind() -> None:
    svg = parse(
        charts.stacked_bars(
            [
                charts.Stack("main", (("in_use", 3), ("free", 1), ("draining", 0))),
                charts.Stack("sub", (("in_use", 0), ("free", 2), ("draining", 2))),
            ],
            title="pools",
        )
    )
    segments = [r for r in svg.findall(f"{SVG}rect") if "segment" in (r.get("class") or "")]
    kinds = [(r.get("class"), r.get("data-value")) for r in segments]
    assert kinds == [
        ("segment in_use", "3"),
        ("segment free", "1"),
        ("segment free", "2"),
        ("segment draining", "2"),
    ]
    widths = [float(r.get("width") or 0) for r in segments]
    assert widths[0] == 3 * widths[1]


def _event(name: str, at: str, **params: str) -> SimpleNamespace:
    return SimpleNamespace(
        event_name=name, params=json.dumps({"EventTimestamp": at, **params}), created_time=None
    )


def test_a_call_is_told_in_time_order_with_ringing_from_the_events() -> None:
    t0 = datetime(2026, 1, 1, 12, 0, 0, 500_000)
    legs = [
        {
            "uuid": "in-1",
            "party": "first",
            "direction": "inbound",
            "from_number": "+1A",
            "to_number": "+1V",
            "status": "completed",
            "initiation_time": t0,
            "answer_time": t0,
            "end_time": datetime(2026, 1, 1, 12, 1, 40),
            "duration": 100,
            "billed_duration": 120,
            "amount": Decimal("0.02"),
            "hangup_cause": "NORMAL_CLEARING",
            "hangup_cause_code": 16,
        },
        {
            "uuid": "out-1",
            "party": "second",
            "direction": "outbound",
            "from_number": "+1V",
            "to_number": "+1B",
            "status": "busy",
            "initiation_time": datetime(2026, 1, 1, 12, 0, 1),
            "answer_time": None,
            "end_time": datetime(2026, 1, 1, 12, 0, 9),
            "duration": 0,
            "billed_duration": 0,
            "amount": Decimal(0),
            "hangup_cause": "USER_BUSY",
            "hangup_cause_code": 17,
        },
    ]
    view = {
        "interaction": [
            {
                "start_time": "2026-01-01 12:00:00",
                "end_time": "2026-01-01 12:01:40",
                "duration": 100,
                "call_billed_duration": 120,
                "total_call_amount": "0.02000",
                "first_party_resource_url": "/v1/Account/MA/Call/in-1/",
                "second_party_resource_url": "/v1/Account/MA/Call/out-1/",
                "recording_resource_url": None,
            }
        ]
    }
    events = [
        _event("SessionSecondPartyRinging", "2026-01-01 12:00:03", CallUUID="out-1"),
        _event("SessionSecondPartyRing", "2026-01-01 12:00:03", CallUUID="out-1"),
        _event("SessionSecondPartyRinging", "2026-01-01 12:00:02", CallUUID="other-call"),
    ]
    [story] = timeline.stories(view, legs, events)
    steps = [e.what for e in story.entries]
    assert steps == [
        "Call began",
        "First party called in",
        "First party answered",
        "Second party dialled",
        "Second party ringing",
        "Second party busy",
        "First party completed",
        "Call ended",
    ]
    busy = story.entries[5]
    assert busy.kind == "failed" and busy.detail == "USER_BUSY (17)"
    done = story.entries[6]
    assert "billed 120 s" in done.detail and "0.02000" in done.detail
    assert story.billed_duration == 120 and story.amount == "0.02000"


def test_a_session_without_calls_has_no_story() -> None:
    assert timeline.stories({"interaction": None}, [], []) == []
