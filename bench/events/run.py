"""bench/events: deliveries per second, beside the same HTTP client loading the receiver.

One command (``python bench/events/run.py``). For each database (SQLite in a temporary
folder; PostgreSQL too when ``VTS_TEST_DATABASE_URL`` or ``--database-url`` names one):

1. a local receiver (uvicorn + httptools, a bare ASGI app answering 200) runs as its own
   process on loopback;
2. **direct**: the worker's own HTTP client (``guarded_http.make_client``, same
   concurrency and limits) posts the same signed form bodies straight to the receiver —
   the ceiling a worker could reach if the outbox cost nothing;
3. **1 worker** and **2 workers**: ``python -m vts_masking.events worker`` processes are
   started and left idle, then ``--events`` due events (one session each, created like
   the service creates them) are committed in one transaction; the time until the last is
   recorded as delivered in the database gives deliveries per second.

Each figure is the median of ``--repeat`` runs; ratios compare medians of the same run.
The machine is shared and noisy (and has few cores: receiver, database and workers share
them), so read ratios and medians, not absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, func, insert, select  # noqa: E402
from tests.conftest import drop_pg_schema, pg_schema_url  # noqa: E402
from tests.support.live import free_port, wait_healthy  # noqa: E402

from vts.signature import NONCE_HEADER, SIGNATURE_HEADER, compute_v3_signature  # noqa: E402
from vts_masking.domain.events import base_params  # noqa: E402
from vts_masking.store import Store  # noqa: E402
from vts_masking.store.models import delivery_attempts, numbers, outbox, sessions  # noqa: E402

CONCURRENCY = 64


# -- the receiver (its own process) -------------------------------------------------------


async def receiver_app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the whole body, as a real receiver would
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


def serve_receiver(port: int) -> None:
    import uvicorn

    uvicorn.run(
        receiver_app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        http="httptools",
        loop="uvloop",
    )


# -- data ---------------------------------------------------------------------------------


def seed(store: Store, url: str, n: int) -> None:
    """``n`` sessions with one due SessionCreated event each, in one transaction."""
    now = store.clock.now()
    account = store.accounts.create("bench")
    store.numbers.add(account, ["+12203009999"])
    with store.db.read() as conn:
        number_id = conn.execute(select(numbers.c.id)).scalar_one()
    session_rows, uuids = [], []
    for i in range(n):
        u = str(uuid.uuid4())
        uuids.append(u)
        session_rows.append(
            {
                "uuid": u,
                "account_id": account.id,
                "number_id": number_id,
                "virtual_number": "+12203009999",
                "first_party": f"+1415555{i % 10000:04d}",
                "second_party": "+14155550000",
                "status": "active",
                "active_calls": 0,
                "created_time": now,
                "modified_time": now,
                "expiry_time": now + timedelta(hours=1),
                "duration": 3600,
                "params": json.dumps({"callback_url": url}),
                "amount": Decimal(0),
                "total_call_count": 0,
                "total_call_amount": Decimal(0),
                "total_call_billed_duration": 0,
                "event_seq": 1,
            }
        )
    with store.db.write() as conn:
        conn.execute(insert(sessions), session_rows)
        ids = dict(conn.execute(select(sessions.c.uuid, sessions.c.id)).all())
        conn.execute(
            insert(outbox),
            [
                {
                    "account_id": account.id,
                    "session_id": ids[u],
                    "seq": 1,
                    "event_name": "SessionCreated",
                    "url": url,
                    "method": "POST",
                    "params": json.dumps(
                        base_params(
                            event_name="SessionCreated",
                            timestamp=now,
                            session_uuid=u,
                            virtual_number="+12203009999",
                            first_party="+14155550001",
                            second_party="+14155550000",
                            sequence=1,
                        )
                    ),
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_time": now,
                }
                for u in uuids
            ],
        )
    if store.db.postgres:
        # What autovacuum does after a burst like this; without it the planner guesses a
        # handful of rows and sorts the whole backlog on every claim (docs/events.md).
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE outbox")


def reset(store: Store) -> None:
    with store.db.write() as conn:
        conn.execute(delete(delivery_attempts))  # each attempt's log refers to its event
        conn.execute(delete(outbox))
        conn.execute(delete(sessions))
        conn.execute(delete(numbers))


def delivered(store: Store) -> int:
    with store.db.read() as conn:
        return conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.status == "delivered")
        ).scalar_one()


# -- the three ways of loading the receiver -------------------------------------------------


async def direct(url: str, n: int) -> float:
    """The worker's HTTP client posting the same signed bodies straight at the receiver."""
    from vts.signature import generate_nonce
    from vts_masking.guarded_http import ClientPool

    clients = ClientPool(allow_private=True, concurrency=CONCURRENCY)
    now = store_clock_now()
    bodies = [
        base_params(
            event_name="SessionCreated",
            timestamp=now,
            session_uuid=str(uuid.uuid4()),
            virtual_number="+12203009999",
            first_party="+14155550001",
            second_party="+14155550000",
            sequence=1,
        )
        for _ in range(n)
    ]

    async def one(params: dict[str, str]) -> None:
        async with clients.slot() as client:
            nonce = generate_nonce()
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                NONCE_HEADER: nonce,
                SIGNATURE_HEADER: compute_v3_signature("POST", url, params, nonce, "t"),
            }
            r = await client.post(url, content=urlencode(params).encode(), headers=headers)
            assert r.status_code == 200

    await asyncio.gather(*(one(b) for b in bodies[:200]))  # warm the connections
    started = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies))
    elapsed = time.perf_counter() - started
    await clients.aclose()
    return n / elapsed


def store_clock_now():  # type: ignore[no-untyped-def]
    from vts_masking.clock import utcnow

    return utcnow()


def with_workers(db_url: str, store: Store, url: str, n: int, workers: int) -> float:
    env = {**os.environ, "VTS_EVENTS_POLL": "0.02", "PYTHONPATH": str(ROOT / "src")}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vts_masking.events",
                "worker",
                "--database-url",
                db_url,
                "--allow-private-callbacks",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        time.sleep(2.0)  # started, migrated, polling an empty outbox
        reset(store)
        seed_started = time.perf_counter()
        seed(store, url, n)
        started = time.perf_counter()
        while delivered(store) < n:
            if time.perf_counter() - started > 120:
                raise RuntimeError("workers did not deliver everything in 120 s")
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        del seed_started
        return n / elapsed
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def bench_database(name: str, db_url: str, url: str, n: int, repeat: int) -> dict[str, float]:
    store = Store(db_url, pool_size=4)
    store.migrate()
    results: dict[str, list[float]] = {"direct": [], "1 worker": [], "2 workers": []}
    for _ in range(repeat):
        results["direct"].append(asyncio.run(direct(url, n)))
        results["1 worker"].append(with_workers(db_url, store, url, n, 1))
        results["2 workers"].append(with_workers(db_url, store, url, n, 2))
    store.close()
    medians = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"\n{name}: deliveries/s, median of {repeat} (runs: "
        + "; ".join(f"{k} " + ", ".join(f"{x:.0f}" for x in v) for k, v in results.items())
        + ")"
    )
    for k, v in medians.items():
        print(f"  {k:<10} {v:8.0f}/s")
    d, w1, w2 = medians["direct"], medians["1 worker"], medians["2 workers"]
    print(f"  1 worker / direct  {w1 / d:.2f}")
    print(f"  2 workers / direct {w2 / d:.2f}")
    print(f"  2 workers / 1      {w2 / w1:.2f}")
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4000, help="events per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("VTS_TEST_DATABASE_URL"),
        help="PostgreSQL to bench as well (a scratch schema is used)",
    )
    parser.add_argument("--serve-receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receiver:
        serve_receiver(args.serve_receiver)
        return

    port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--serve-receiver", str(port)])
    url = f"http://127.0.0.1:{port}/events"
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        print(
            f"bench/events: {args.events} events per run, concurrency {CONCURRENCY}, "
            f"{os.cpu_count()} CPUs, receiver uvicorn+httptools on loopback"
        )
        with tempfile.TemporaryDirectory() as folder:
            bench_database(
                "SQLite", f"sqlite:///{folder}/bench.sqlite3", url, args.events, args.repeat
            )
        if args.database_url:
            pg_url, schema = pg_schema_url(args.database_url)
            try:
                bench_database("PostgreSQL", pg_url, url, args.events, args.repeat)
            finally:
                drop_pg_schema(args.database_url, schema)
    finally:
        receiver.terminate()
        receiver.wait(10)


if __name__ == "__main__":
    main()
