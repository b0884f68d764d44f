"""bench/sip/records.py: the store writes one masked call leaves, in CPU per call.

Every answered call writes its Call records, its interaction, the session's totals and
about ten session events (``CallLog``: ``call_started``, ``leg_initiated`` ×2,
``leg_ringing``, ``leg_answered`` ×2, ``leg_finished`` ×2, ``call_ended``) — nine write
transactions when each runs alone, or a share of one when the service's records writer
(calls/writer.py) finds many steps waiting and commits them together (``--batch`` calls
per transaction here, each on a session of its own). This measures the CPU and wall time
those take per call on SQLite and PostgreSQL, beside a baseline measured in the same
run: nine empty write transactions (``BEGIN``/``COMMIT`` through the same store), the
floor of that pattern. Medians of ``--rounds`` rounds of ``--calls`` calls.

    python bench/sip/records.py [--calls 300] [--rounds 5] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.conftest import drop_pg_schema, pg_schema_url  # noqa: E402

from vts_masking.domain.billing import RateTable  # noqa: E402
from vts_masking.domain.session_params import parse_create  # noqa: E402
from vts_masking.store import Principal, Store  # noqa: E402
from vts_masking.store.calllog import CallLog, CallRef  # noqa: E402

VIRTUAL, CALLER, CALLEE = "+12205550001", "+14155550001", "+12125550002"
PG_URL = os.environ.get("VTS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def one_call(log: CallLog, virtual: str = VIRTUAL) -> None:
    route = log.route(virtual, CALLER)
    ref = CallRef(route.session_id or 0, route.session_uuid or "", route.account_id or 0, virtual)
    at = datetime.utcnow()
    log.call_started(ref, at)
    log.leg_initiated(ref, "a", "first", "inbound", CALLER, virtual, at)
    log.leg_initiated(ref, "b", "second", "outbound", virtual, CALLEE, at)
    log.leg_ringing(ref, "b", virtual, CALLEE, at)
    log.leg_answered(ref, "b", "outbound", virtual, CALLEE, at)
    log.leg_answered(ref, "a", "inbound", CALLER, virtual, at)
    for leg, (frm, to) in (("b", (virtual, CALLEE)), ("a", (CALLER, virtual))):
        log.leg_finished(
            ref,
            leg,
            answered_at=at,
            sip_status=200,
            cause="NORMAL_CLEARING",
            cause_code=16,
            from_number=frm,
            to_number=to,
            at=at,
        )
    log.call_ended(ref, at, both_answered=True)


def per_call(fn: Callable[[], None], calls: int, rounds: int) -> tuple[float, float]:
    """Median CPU and wall milliseconds per call over ``rounds`` rounds."""
    cpu, wall = [], []
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(calls):
            fn()
        cpu.append(1000 * (time.process_time() - c0) / calls)
        wall.append(1000 * (time.perf_counter() - w0) / calls)
    return statistics.median(cpu), statistics.median(wall)


def measure(url: str, calls: int, rounds: int, batch: int) -> dict[str, tuple[float, float]]:
    store = Store(url, pool_size=2)
    store.migrate()
    account = store.accounts.create("bench")
    main = store.accounts.by_auth_id(account.auth_id)
    assert main is not None
    # one session per call of a batch, each on its own number, as under load
    virtuals = [f"+1220555{i:04d}" for i in range(1, batch + 1)]
    store.numbers.add(main, virtuals)
    params = parse_create(
        {"first_party": CALLER, "second_party": CALLEE, "callback_url": "https://example.com/"}
    )
    for _ in virtuals:
        store.sessions.create(Principal(main, main, None), params, lambda view: view)
    log = CallLog(store.db, RateTable())

    def empty_transactions() -> None:
        for _ in range(9):
            with store.db.write():
                pass

    for _ in range(30):  # warm caches (compiled statements, pool)
        one_call(log)
        empty_transactions()

    def batched() -> None:
        with log.batch():
            for virtual in virtuals:
                one_call(log, virtual)

    results = {
        "baseline: 9 empty write transactions": per_call(empty_transactions, calls, rounds),
        "a call's records and events": per_call(lambda: one_call(log), calls, rounds),
        f"the same, {batch} calls per transaction": per_call(
            batched, max(1, calls // batch), rounds
        ),
    }
    # per_call counted a batch as one call
    cpu, wall = results[f"the same, {batch} calls per transaction"]
    results[f"the same, {batch} calls per transaction"] = (cpu / batch, wall / batch)
    store.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--batch", type=int, default=10, help="calls per transaction, batched")
    args = ap.parse_args()
    head = f"{'CPU ms/call':>12} {'wall ms/call':>13} {'CPU ratio':>10}"
    print(f"{'backend':10} {'writes':40} {head}")  # CPU ratio: to the baseline
    for backend in args.backends.split(","):
        schema = None
        if backend == "sqlite":
            url = f"sqlite:///{tempfile.mkdtemp(prefix='bench-records-')}/vts.sqlite3"
        else:
            url, schema = pg_schema_url(PG_URL)
        try:
            rows = measure(url, args.calls, args.rounds, args.batch)
        finally:
            if schema:
                drop_pg_schema(PG_URL, schema)
        base_cpu = next(iter(rows.values()))[0]
        for name, (cpu, wall) in rows.items():
            print(f"{backend:10} {name:40} {cpu:12.2f} {wall:13.2f} {cpu / base_cpu:9.1f}×")


if __name__ == "__main__":
    main()
