"""One masked call through the real service (SIPp phones), seen from the operator's
side: the line logged when it ends and the call, SIP and RTP series of ``/metrics``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Edge, ok, requires_sipp, running_edge, wait_for
from tests.e2e.test_masked_calls import call

pytestmark = [pytest.mark.sipp, requires_sipp, pytest.mark.timeout(90)]

A = "+14155550111"
B = "+12125550112"


@pytest.fixture
def edge(db_url: str, tmp_path: Path) -> Iterator[Edge]:
    with running_edge(db_url, tmp_path) as e:
        yield e


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    page = httpx.get(url + "/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
    }


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.mark.asyncio
async def test_a_masked_call_is_logged_once_and_counted(
    edge: Edge, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vts_masking.calls")
    t = edge.t
    s = t.session(first_party=A, second_party=B)
    before = samples(edge.live.url)
    caller, callee = await call(tmp_path, edge.sip_port, edge.trunk_port, caller=A, dialled=t.vn(1))
    ok(caller)
    ok(callee)
    ended = wait_for(lambda: [r for r in caplog.records if r.getMessage() == "call ended"])
    assert len(ended) == 1
    line = ended[0].fields  # type: ignore[attr-defined]
    assert line["session_uuid"] == s["session_uuid"] and line["legs"] == 2
    assert (line["a_from"], line["a_to"]) == (A, t.vn(1))
    assert (line["b_from"], line["b_to"]) == (t.vn(1), B)
    assert line["a_status"] == line["b_status"] == "answered"
    assert line["cause"] == "NORMAL_CLEARING"
    for side in ("a", "b"):  # each leg's call_uuid is the record the API serves
        assert t.http.get(t.base + f"Call/{line[f'{side}_call_uuid']}/").status_code == 200
    after = samples(edge.live.url)
    assert delta(before, after, "vts_calls_started_total") == 1
    assert delta(before, after, "vts_calls_ended_total", hangup_cause="NORMAL_CLEARING") == 1
    assert after[("vts_calls_active", ())] == 0
    assert delta(before, after, "vts_call_setup_seconds_count") == 1
    assert delta(before, after, "vts_sip_requests_total", direction="in", method="INVITE") >= 1
    assert (
        delta(
            before, after, "vts_sip_responses_total", direction="in", method="INVITE", status="200"
        )
        >= 1
    )
    assert delta(before, after, "vts_sip_requests_total", direction="out", method="BYE") >= 1
    assert after[("vts_rtp_ports_in_use", ())] == 0  # released when the call ended
