"""Latency of ``GET .../Call/`` (issue 12) on a store with many call legs, against the
session list of the same store in the same run, and without the index the call list
relies on (``ix_calls_account_initiated``).

Builds a SQLite store (or the PostgreSQL URL given) with one account, ``--sessions``
sessions and two legs each (rows written in bulk: this measures the reads), starts
``vts-masking serve --no-sip`` on it and times sequential requests over one keep-alive
connection: the first page of sessions (the baseline), the first page of calls, calls
filtered by direction, by end time, by session, a deep page; then drops the index and
times the call pages again.

    PYTHONPATH=src python bench/api/call_list.py [--sessions 20000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import sqlalchemy as sa

from vts_masking.store import Store
from vts_masking.store.models import calls, interactions, numbers, sessions

REQUESTS = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fill(store: Store, account_id: int, count: int) -> str:
    """``count`` ended sessions on one number with one call each (an interaction of two
    legs, as the call engine writes them); returns one session's uuid."""
    t0 = datetime(2026, 1, 1)
    with store.engine.begin() as conn:
        number_id = conn.execute(
            numbers.insert().values(
                number="+12202990001", account_id=account_id, pool_id=account_id,
                country="US", state="in_service", spread=0.5, added_time=t0, modified_time=t0,
            )
        ).inserted_primary_key[0]  # fmt: skip
        rows, legs = [], []
        for n in range(count):
            start = t0 + timedelta(seconds=30 * n)
            rows.append(
                {
                    "uuid": str(uuid.uuid4()), "account_id": account_id, "subaccount_id": None,
                    "number_id": number_id, "virtual_number": "+12202990001",
                    "first_party": f"+1415{n:07d}", "second_party": f"+1212{n:07d}",
                    "status": "expired", "active_calls": 0, "created_time": start,
                    "modified_time": start, "expiry_time": start + timedelta(hours=1),
                    "duration": 3600, "params": "{}", "amount": Decimal(0),
                    "total_call_count": 2, "total_call_amount": Decimal("0.02"),
                    "total_call_billed_duration": 120, "event_seq": 0,
                }
            )  # fmt: skip
        conn.execute(sessions.insert(), rows)
        ids = dict(conn.execute(sa.select(sessions.c.uuid, sessions.c.id)).all())
        conn.execute(
            interactions.insert(),
            [
                {
                    "session_id": ids[row["uuid"]], "start_time": row["created_time"],
                    "end_time": row["created_time"] + timedelta(seconds=62), "duration": 62,
                    "first_party_status": "completed", "second_party_status": "completed",
                    "call_billed_duration": 120, "total_call_amount": Decimal("0.02"),
                    "total_call_count": 2,
                }
                for row in rows
            ],
        )  # fmt: skip
        inter = dict(conn.execute(sa.select(interactions.c.session_id, interactions.c.id)).all())
        for n, row in enumerate(rows):
            start = t0 + timedelta(seconds=30 * n)
            for k, (direction, src, dst) in enumerate(
                (("inbound", row["first_party"], "+12202990001"),
                 ("outbound", "+12202990001", row["second_party"]))
            ):  # fmt: skip
                legs.append(
                    {
                        "uuid": str(uuid.uuid4()), "account_id": account_id,
                        "session_id": ids[row["uuid"]],
                        "interaction_id": inter[ids[row["uuid"]]],
                        "party": "first" if k == 0 else "second", "direction": direction,
                        "from_number": src, "to_number": dst, "status": "completed",
                        "initiation_time": start + timedelta(seconds=k),
                        "answer_time": start + timedelta(seconds=2),
                        "end_time": start + timedelta(seconds=62), "duration": 60,
                        "billed_duration": 60, "amount": Decimal("0.01"),
                        "hangup_cause": "NORMAL_CLEARING", "hangup_cause_code": 16,
                    }
                )  # fmt: skip
        conn.execute(calls.insert(), legs)
    return rows[len(rows) // 2]["uuid"]


def _time(http: httpx.Client, path: str, params: dict | None = None) -> dict[str, float]:
    http.get(path, params=params).raise_for_status()  # warm
    samples = []
    for _ in range(REQUESTS):
        t = time.perf_counter()
        r = http.get(path, params=params)
        samples.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.text
    samples.sort()
    return {"p50": statistics.median(samples), "p95": samples[int(len(samples) * 0.95) - 1]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20000)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    data = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{data}/vts.sqlite3"
    store = Store(url, pool_size=2)
    store.migrate()
    account = store.accounts.create("bench")
    middle = _fill(store, account.id, args.sessions)
    port = _free_port()
    service = subprocess.Popen(
        [sys.executable, "-m", "vts_masking.cli", "serve", "--no-sip", "--port", str(port),
         "--data-dir", data, "--database-url", url, "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"/v1/Account/{account.auth_id}/"
    results: dict[str, dict[str, float]] = {}
    try:
        http = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            auth=(account.auth_id, account.auth_token),
            timeout=60,
        )
        for _ in range(300):
            try:
                if http.get("/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        inbound = http.get(base + "Call/", params={"call_direction": "inbound"}).json()
        a_leg = inbound["objects"][0]["call_uuid"]
        cases = {
            "calls: first page": ("Call/", None),
            "calls: by direction": ("Call/", {"call_direction": "outbound"}),
            "calls: end_time__gte": ("Call/", {"end_time__gte": "2026-01-04 00:00:00"}),
            "calls: by session": ("Call/", {"session_uuid": middle}),
            "calls: offset 10000": ("Call/", {"offset": 10000}),
            "calls: B legs of an A leg": ("Call/", {"parent_call_uuid": a_leg}),
        }
        results["sessions: first page (baseline)"] = _time(http, base + "Masking/Session/")
        for name, (path, params) in cases.items():
            results[name] = _time(http, base + path, params)
        with store.engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX ix_calls_account_initiated"))
        for name in ("calls: first page", "calls: by direction"):
            path, params = cases[name]
            results[name + " (no index)"] = _time(http, base + path, params)
        http.close()
    finally:
        service.terminate()
        try:
            service.wait(10)
        except subprocess.TimeoutExpired:
            service.kill()
        store.close()
    baseline = results["sessions: first page (baseline)"]["p50"]
    print(f"{args.sessions} sessions, {2 * args.sessions} legs, {url.split(':')[0]}")
    print(f"{'request':38} {'p50 ms':>8} {'p95 ms':>8} {'p50 / baseline':>15}")
    for name, r in results.items():
        print(f"{name:38} {r['p50']:8.2f} {r['p95']:8.2f} {r['p50'] / baseline:15.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
