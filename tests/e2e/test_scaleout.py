"""Scale-out, end to end: two ``vts-masking serve`` nodes on one PostgreSQL behind the
shipped Kamailio dispatcher front (``deploy/kamailio/kamailio.cfg``).

Node A listens on 127.0.0.2 and node B on 127.0.0.3 (HTTP, SIP and RTP each on its own
address); Kamailio on 127.0.0.1 spreads new calls over both and probes them with OPTIONS
every second; HTTP requests take turns over the nodes. Each test proves one thing the
architecture claims (docs/architecture.md, Scale-out): SIPp load completes through the
front and lands on both nodes; concurrent creates on both nodes never hand one virtual
number out twice; every event is delivered, by one worker at a time; a SIGKILLed node is
taken out of the rotation and its leased events are delivered by the survivor once the
lease runs out.

PostgreSQL only (SQLite is one process's store): skipped when VTS_TEST_DATABASE_URL is
not set.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_URL, us
from tests.e2e.conftest import requires_sipp, wait_for
from tests.integration.events.receiver import Receiver
from tests.support.kamailio import requires_kamailio
from tests.support.live import free_port
from tests.support.scaleout import (
    Account,
    Cluster,
    LoadResult,
    RoundRobin,
    SippLoad,
    node_metric,
    pg_database,
)
from vts_masking.clock import utcnow
from vts_masking.domain.errors import POOL_EXHAUSTED
from vts_masking.store.deliveries import OutboxRepo

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "scaleout" / "run.py"
LEASE = 8.0  # seconds: the short outbox lease of the node-kill test (VTS_EVENTS_LEASE)
FAST_EVENTS = {"VTS_EVENTS_POLL": "0.05"}


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("VTS_TEST_DATABASE_URL is not set (scale-out needs PostgreSQL)")
    yield from pg_database(PG_URL)


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Starts the cluster a test asks for; every process is stopped afterwards."""
    started: list[Cluster] = []

    def start(**kw: Any) -> Cluster:
        c = Cluster(pg_url, tmp_path, **kw)
        started.append(c)
        return c.__enter__()

    yield start
    for c in started:
        c.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(port=free_port()) as rx:
        yield rx


def setup_tenant(c: Cluster, pool: int) -> tuple[Account, RoundRobin, list[str]]:
    account = c.account()
    rr = c.round_robin(account)
    numbers = [f"+1220555{n:04d}" for n in range(pool)]
    r = rr.post("Number/", json={"numbers": ",".join(numbers)})
    assert r.status_code == 201, r.text
    return account, rr, numbers


def make_sessions(rr: RoundRobin, count: int, **params: Any) -> list[dict]:
    """``count`` sessions, created in turn on each node (distinct parties)."""
    out = []
    for i in range(count):
        r = rr.post(
            "Masking/Session/",
            node=rr.nodes[i % len(rr.nodes)],
            json={"first_party": us(1000 + i), "second_party": us(5000 + i), **params},
        )
        assert r.status_code == 201, r.text
        out.append(r.json()["session"])
    return out


def pairs_of(sessions: list[dict]) -> list[tuple[str, str]]:
    return [(s["first_party"], s["virtual_number"]) for s in sessions]


def completed(result: LoadResult, calls: int) -> None:
    assert (result.returncode, result.successful, result.failed) == (0, calls, 0), (
        result.output + result.errors
    )


def outbox(c: Cluster) -> list[Any]:
    assert c.store is not None
    return OutboxRepo(c.store.db).list(limit=100_000)


def settled(c: Cluster, quiet: float = 1.0, timeout: float = 40.0) -> list[Any]:
    """The outbox once every event is delivered and no new one came for ``quiet`` s."""
    deadline = time.monotonic() + timeout
    last: tuple[int, bool] | None = None
    since = time.monotonic()
    while True:
        rows = outbox(c)
        state = (len(rows), all(r.status == "delivered" for r in rows))
        if state != last:
            last, since = state, time.monotonic()
        elif state[1] and time.monotonic() - since >= quiet:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"outbox not settled: {Counter(r.status for r in rows)}")
        time.sleep(0.1)


# --------------------------------------------------------------------------- load


@pytest.mark.sipp
@requires_sipp
@requires_kamailio
def test_sipp_load_through_the_dispatcher_completes_on_both_nodes(
    cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    c = cluster()
    _, rr, _ = setup_tenant(c, pool=8)
    sessions = make_sessions(rr, 24)  # 12 created on each node's HTTP
    before = c.calls_started()
    calls = 200
    result = SippLoad(tmp_path, c.sip_front, pairs_of(sessions), calls, rate=20).run()
    completed(result, calls)
    after = c.calls_started()
    landed = {name: after[name] - before[name] for name in after}
    assert sum(landed.values()) == calls, landed
    assert all(n > 0 for n in landed.values()), landed  # the dispatcher used both nodes

    # Both nodes wrote their calls into the one database: each session shows its
    # calls (two legs each), whichever node is asked.
    def legs() -> int:
        total = 0
        for s in sessions:
            view = rr.get(f"Masking/Session/{s['session_uuid']}/").json()["response"]
            total += int(view["total_call_count"])
        return total

    assert wait_for(lambda: legs() == 2 * calls, timeout=20), legs()


# --------------------------------------------------------------------------- allocation


def test_concurrent_creates_on_both_nodes_never_share_a_number_and_exhaust_cleanly(
    cluster: Callable[..., Cluster],
) -> None:
    c = cluster(sip=False)
    _, rr, numbers = setup_tenant(c, pool=5)
    tries = 12
    for round_ in range(3):
        # A new pair each round: the pool is theirs again (the keys are the parties).
        first, second = us(100 + round_), us(200 + round_)
        start = threading.Barrier(tries)

        def create(i: int, first: str = first, second: str = second, go=start) -> Any:
            go.wait()
            return rr.post(
                "Masking/Session/",
                node=rr.nodes[i % 2],
                json={"first_party": first, "second_party": second},
            )

        with ThreadPoolExecutor(tries) as pool:
            answers = list(pool.map(create, range(tries)))
        made = [r.json()["session"]["virtual_number"] for r in answers if r.status_code == 201]
        refused = [r for r in answers if r.status_code != 201]
        assert sorted(made) == sorted(numbers), [r.text for r in answers]  # one each
        assert len(refused) == tries - len(numbers)
        assert all(r.status_code == 400 for r in refused), [r.text for r in refused]
        assert all(r.json()["error"] == POOL_EXHAUSTED for r in refused)
        # What the store holds, asked through the other node too: five live sessions of
        # the pair, each on its own number.
        for node in rr.nodes:
            listed = rr.get(
                "Masking/Session/",
                node=node,
                params={"first_party": first, "status": "active", "limit": 20},
            ).json()["response"]["objects"]
            assert sorted(s["virtual_number"] for s in listed) == sorted(numbers)


# --------------------------------------------------------------------------- events


@pytest.mark.sipp
@requires_sipp
@requires_kamailio
def test_every_event_is_delivered_once_by_one_worker_at_a_time(
    cluster: Callable[..., Cluster], tmp_path: Path, receiver: Receiver
) -> None:
    receiver.hold = 0.02  # widens the window in which two deliveries of one event meet
    c = cluster(env=FAST_EVENTS)
    account, rr, _ = setup_tenant(c, pool=4)
    sessions = make_sessions(rr, 16, callback_url=receiver.url)
    calls = 48
    completed(SippLoad(tmp_path, c.sip_front, pairs_of(sessions), calls, rate=12).run(), calls)
    rows = settled(c)
    keys = {(r.session_uuid, str(r.seq)) for r in rows}
    assert len(rows) > 16 + 4 * calls  # SessionCreated and the calls' events

    got = receiver.got()
    assert receiver.overlaps == []
    assert Counter(r.key for r in got).most_common(1)[0][1] == 1  # none twice
    assert {r.key for r in got} == keys  # every event
    assert {r.status for r in got} == {200}
    unsigned = [r for r in got if not r.signature_valid(account.auth_token)]
    assert unsigned == [], (unsigned[0].url, unsigned[0].params, unsigned[0].headers)
    order: dict[str, list[int]] = defaultdict(list)
    for session_uuid, seq in receiver.started:  # in the order they arrived
        order[session_uuid].append(int(seq))
    assert all(seqs == sorted(seqs) for seqs in order.values())  # per session, in order
    # Both workers took part, and between them delivered each event once.
    delivered = {n.name: node_metric(n, "vts_events_delivered_total") for n in c.nodes}
    assert sum(delivered.values()) == len(rows), delivered
    assert all(v > 0 for v in delivered.values()), delivered


# --------------------------------------------------------------------------- node loss


@pytest.mark.sipp
@requires_sipp
@requires_kamailio
def test_killed_node_leaves_the_rotation_and_the_survivor_delivers_its_leased_events(
    cluster: Callable[..., Cluster], tmp_path: Path, receiver: Receiver
) -> None:
    gate = threading.Event()
    gate.set()

    def answer(_: Any) -> int:
        gate.wait(30)  # closed: every delivery hangs, so both workers hold leases
        return 200

    receiver.respond = answer
    c = cluster(
        env={
            **FAST_EVENTS,
            "VTS_EVENTS_LEASE": str(LEASE),
            "VTS_EVENTS_DEADLINE": str(LEASE - 1),
            "VTS_EVENTS_BACKOFF_MIN": "0.2",
            "VTS_EVENTS_BACKOFF_BASE": "0.5",
        }
    )
    node_a, node_b = c.nodes
    assert c.dispatcher is not None
    _, rr, _ = setup_tenant(c, pool=4)
    sessions = make_sessions(rr, 16, callback_url=receiver.url)
    settled(c, quiet=0.2)  # the SessionCreated events are out of the way
    repo = OutboxRepo(c.store.db)  # type: ignore[union-attr]

    # Calls keep coming while a node dies; their events are what the workers hold.
    load = SippLoad(tmp_path, c.sip_front, pairs_of(sessions), 80, rate=10, name="before")
    load.start()
    try:
        time.sleep(2.0)
        gate.clear()
        # Most sessions with an event held at the receiver (at most one each: events
        # of a session go in order), claimed by both workers as they came due.
        time.sleep(1.0)
        held = wait_for(lambda: held_now(receiver) >= 12, timeout=4)
        assert held, f"{held_now(receiver)} deliveries in flight"
        node_a.kill()
        killed = utcnow()
        time.sleep(0.5)
        gate.set()  # node B's held deliveries are answered; node A's went with it

        # What is still leased once B's answers are recorded, under a lease given
        # before the kill, is what A held when it died.
        time.sleep(1.0)
        first = delivering(repo)
        time.sleep(0.5)
        second = delivering(repo)
        orphans = {
            i: lease
            for i, lease in first.items()
            if second.get(i) == lease and lease < killed + timedelta(seconds=LEASE)
        }
        assert orphans, (first, second)

        # Kamailio's probes take the dead node out within a few seconds.
        assert wait_for(lambda: c.dispatcher.down(node_a.host, node_a.sip_port), timeout=10)
    finally:
        load.wait()

    # New calls all go to the survivor and all complete.
    before = node_metric(node_b, "vts_calls_started_total")
    calls = 45
    after_kill = SippLoad(tmp_path, c.sip_front, pairs_of(sessions), calls, 15, name="after")
    completed(after_kill.run(), calls)
    assert node_metric(node_b, "vts_calls_started_total") - before == calls

    # Nothing lost: every event delivered, A's by B once their lease had run out.
    rows = {r.id: r for r in settled(c)}
    for event_id, lease in orphans.items():
        row = rows[event_id]
        assert row.status == "delivered" and row.attempts >= 2
        assert row.delivered_time >= lease
    assert set(receiver.started) >= {(r.session_uuid, str(r.seq)) for r in rows.values()}
    assert receiver.overlaps == []  # never two deliveries of one event at once


def held_now(rx: Receiver) -> int:
    """Requests the receiver has begun and not yet answered."""
    return len(rx.started) - len(rx.got())


def delivering(repo: OutboxRepo) -> dict[int, Any]:
    """Events under a lease now: id → lease end."""
    return {r.id: r.lease_until for r in repo.list(limit=100_000) if r.status == "delivering"}


# --------------------------------------------------------------------------- the bench


@pytest.mark.sipp
@requires_sipp
@requires_kamailio
def test_scaleout_bench_runs_and_prints_its_table() -> None:
    """bench/scaleout/run.py with tiny parameters: it measures both configurations and
    prints the medians with their ratio (no figure is judged)."""
    if not PG_URL:
        pytest.skip("VTS_TEST_DATABASE_URL is not set (scale-out needs PostgreSQL)")
    tiny = ["--calls", "12", "--concurrency", "4", "--sessions", "12", "--threads", "2"]
    out = subprocess.run(
        [sys.executable, str(BENCH), "--database-url", PG_URL, *tiny, "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "round 1 1 node" in out.stdout and "round 1 2 nodes" in out.stdout
    assert "(12 completed, 0 failed" in out.stdout
    table = out.stdout.split("medians (two-node / one-node ratio):")[1]
    for metric in ("calls/s", "sessions/s", "failed calls"):
        assert re.search(rf"^  {re.escape(metric)} +[0-9.]+ +[0-9.]+", table, re.M), table
