"""The console in a real browser (Debian's Chromium, headless, driven by Playwright)
against the whole service: a real SIPp call with media and recording went through it,
its callbacks went to a real HTTP receiver that refused them, and the pages show it.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.conftest import (
    A,
    B,
    Console,
    requires_browser,
    requires_pcaps,
    screenshot,
    sign_in,
    start_call,
)

pytestmark = [pytest.mark.sipp, requires_browser, requires_pcaps, pytest.mark.timeout(180)]


def test_signing_in_with_the_accounts_credentials_opens_its_dashboard(
    browser: Browser, console: Console
) -> None:
    ctx = browser.new_context()
    try:
        tab = ctx.new_page()
        tab.goto(console.url + "/console/")
        expect(tab).to_have_url(re.compile(r"/console/login"))
        screenshot(tab, "login")
        sign_in(tab, console.url, console.t.auth_id, console.t.auth_token)
        expect(tab.get_by_test_id("who")).to_contain_text(console.t.auth_id)
        # the recorded call's session is one of the account's active sessions
        expect(tab.get_by_test_id("sessions-active")).not_to_have_text("0")
        assert console.t.auth_token not in tab.content()
        cookie = next(c for c in ctx.cookies() if c["name"] == "vts_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/console"
    finally:
        ctx.close()


def test_the_dashboard_charts_the_recorded_call(page: Page, console: Console) -> None:
    bars = page.locator("[data-testid=calls-per-hour] rect.bar")
    expect(bars).to_have_count(24)
    values = [int(v) for v in bars.evaluate_all("rs => rs.map(r => r.dataset.value)")]
    assert sum(values) >= 1
    expect(page.get_by_test_id("hangup-causes")).to_contain_text("NORMAL_CLEARING")
    expect(page.locator("[data-testid=pools] rect.segment.in_use")).not_to_have_count(0)
    expect(page.get_by_test_id("events-failed")).not_to_have_text("0")
    screenshot(page, "dashboard")


def test_the_sessions_list_filters_like_the_api(page: Page, console: Console) -> None:
    page.goto(console.url + "/console/sessions")
    rows = page.locator("[data-testid=sessions] tr")
    expect(rows.filter(has_text=console.session["session_uuid"])).to_have_count(1)
    page.fill("input[name=first_party]", "+1 212 555 9999")  # nobody: no row
    page.click("form.filters button[type=submit]")
    expect(page.get_by_text("No session matches.")).to_be_visible()
    page.fill("input[name=first_party]", A.replace("+", ""))  # any number format
    page.click("form.filters button[type=submit]")
    expect(rows.filter(has_text=console.session["session_uuid"])).to_have_count(1)
    screenshot(page, "sessions")


def test_the_session_page_tells_the_sipp_call_as_a_timeline(page: Page, console: Console) -> None:
    s = console.session
    page.goto(console.url + f"/console/sessions/{s['session_uuid']}")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_have_count(1)
    text = timeline.inner_text()
    order = [
        "Call began",
        "First party called in",
        "Second party dialled",
        "Second party answered",
        "Recording started",
        "Call ended",
    ]
    positions = [text.index(step) for step in order]
    assert positions == sorted(positions), text
    assert f"{A} → " in text and f"→ {B}" in text
    assert "Second party ringing" in text
    legs = page.get_by_test_id("legs")
    expect(legs.get_by_test_id("hangup-cause").first).to_contain_text("NORMAL_CLEARING")
    inter = s["interaction"][0]
    expect(page.get_by_test_id("billed")).to_have_text(str(inter["call_billed_duration"]))
    expect(page.get_by_test_id("amount")).to_have_text(inter["total_call_amount"])
    # each delivery attempt, with what the receiver answered
    events = page.get_by_test_id("events")
    expect(events).to_contain_text("SessionCreated")
    expect(events).to_contain_text("HTTP 503")
    expect(events).to_contain_text("down for maintenance")
    screenshot(page, "session")


def test_the_recording_plays_in_the_page_with_its_duration(page: Page, console: Console) -> None:
    page.goto(console.url + f"/console/sessions/{console.session['session_uuid']}")
    audio = page.locator("audio")
    expect(audio).to_have_count(1)
    assert console.t.auth_token not in page.content()
    src = audio.get_attribute("src") or ""
    assert src.startswith("/console/recordings/") and console.t.auth_id not in src
    page.wait_for_function("() => document.querySelector('audio').readyState >= 1")
    duration = audio.evaluate("a => a.duration")
    assert duration == pytest.approx(console.recording["recording_duration_ms"] / 1000, abs=0.1)
    assert audio.evaluate("a => a.play().then(() => 'playing')") == "playing"
    page.wait_for_function("() => document.querySelector('audio').currentTime > 0")
    # the same route refuses a browser that is not signed in
    assert httpx.get(console.url + src).status_code in (303, 307, 302)


def test_a_failed_delivery_retried_from_the_events_page_is_delivered(
    page: Page, console: Console
) -> None:
    first = next(
        e for e in console.events(console.session["session_uuid"]) if e["sequence_number"] == 1
    )
    assert first["status"] == "failed"
    page.goto(console.url + "/console/events?status=failed")
    row = page.locator(f"#event-{first['id']}")
    expect(row).to_contain_text("HTTP 503")
    expect(row).to_contain_text("down for maintenance")
    screenshot(page, "events")
    console.answer["status"] = 200  # the receiver is back
    try:
        row.get_by_role("button", name="Retry").click()
        # the row updates itself (htmx) until the worker has delivered it
        expect(row.get_by_test_id("event-status")).to_have_text("delivered", timeout=20_000)
    finally:
        console.answer["status"] = 503
    got = [r for r in console.receiver.delivered() if r.params.get("SequenceNumber") == "1"]
    assert got and got[0].params["EventName"] == "SessionCreated"
    assert got[0].signature_valid(console.t.auth_token)


def test_a_number_added_in_the_page_to_a_subaccount_and_drained_keeps_its_session(
    page: Page, console: Console
) -> None:
    t = console.t
    r = t.http.post(t.base + "Subaccount/", json={"name": "Drain desk", "enabled": True})
    assert r.status_code == 201, r.text
    sub = r.json()["auth_id"]
    number = t.vn(77)
    page.goto(console.url + "/console/numbers")
    form = page.get_by_test_id("add-numbers")
    form.locator("input[name=numbers]").fill(number)
    form.locator("select[name=subaccount]").select_option(sub)
    form.get_by_role("button", name="Add").click()
    row = page.locator(f"tr[data-number='{number}']")
    expect(row).to_contain_text(sub)
    expect(row.get_by_test_id("state")).to_have_text("in service")
    # the subaccount's only number: a session of the subaccount must take it
    s = t.session(first_party="+14155550301", second_party="+14155550302", subaccount=sub)
    assert s["virtual_number"] == number
    page.reload()
    row.get_by_role("button", name="Drain").click()
    expect(page.get_by_role("status")).to_contain_text("draining")
    expect(row.get_by_test_id("state")).to_have_text("draining")
    screenshot(page, "numbers")
    row.get_by_role("link", name=number).click()
    expect(page.get_by_test_id("number-sessions")).to_contain_text(s["session_uuid"])
    screenshot(page, "number")
    api = t.http.get(t.base + f"Number/{number}/").json()
    assert api["state"] == "draining" and api["active_sessions"] == 1


def test_calls_in_progress_appear_on_the_dashboard_without_a_reload(
    page: Page, console: Console
) -> None:
    t = console.t
    s = t.session(first_party="+14155550401", second_party="+14155550402")
    live = page.get_by_test_id("calls-in-progress")
    expect(live).to_have_text("0")
    page.evaluate("window.notReloaded = true")
    call = start_call(console, "+14155550401", s["virtual_number"], hold_ms=5000)
    try:
        expect(live).to_have_text("1", timeout=20_000)
        expect(page.get_by_test_id("live-legs")).to_contain_text(s["virtual_number"])
        call.result(timeout=40)
        expect(live).to_have_text("0", timeout=20_000)
    finally:
        call.result(timeout=40)
    assert page.evaluate("window.notReloaded") is True


def test_a_subaccount_cannot_open_another_tenants_session_page(
    browser: Browser, console: Console
) -> None:
    t = console.t
    r = t.http.post(t.base + "Subaccount/", json={"name": "Night desk", "enabled": True})
    assert r.status_code == 201, r.text
    sub = r.json()
    ctx = browser.new_context()
    try:
        tab = ctx.new_page()
        sign_in(tab, console.url, sub["auth_id"], sub["auth_token"])
        response = tab.goto(console.url + f"/console/sessions/{console.session['session_uuid']}")
        assert response is not None and response.status == 404
        expect(tab.get_by_role("alert")).to_have_text("Session not found.")
        media = tab.request.get(
            console.url + f"/console/recordings/{console.recording['recording_id']}/media"
        )
        assert media.status == 404
    finally:
        ctx.close()


def test_a_form_without_its_csrf_token_is_refused(page: Page, console: Console) -> None:
    t = console.t
    number = t.vn(88)
    page.goto(console.url + "/console/numbers")
    form = page.get_by_test_id("add-numbers")
    form.locator("input[name=csrf_token]").evaluate("el => el.remove()")
    form.locator("input[name=numbers]").fill(number)
    with page.expect_response(re.compile(r"/console/numbers")) as answer:
        form.get_by_role("button", name="Add").click()
    assert answer.value.status == 403
    expect(page.get_by_role("alert")).to_contain_text("security token")
    assert t.http.get(t.base + f"Number/{number}/").status_code == 404
