"""The worker inside the real service: hooks, the API's event log, /metrics, SIGKILL.

The restart tests run the service as a child process (``serve_with_worker``, i.e.
``vts-masking serve`` with the worker hooks) and kill it with SIGKILL.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.conftest import us
from tests.integration.events.conftest import rows
from tests.integration.events.receiver import Receiver, wait_for
from tests.support.live import ServiceProcess, free_port, wait_healthy
from vts_masking.api.app import create_app
from vts_masking.config import Settings
from vts_masking.events.api import router as metrics_router
from vts_masking.events.metrics import COUNTERS
from vts_masking.events.worker import start_worker, stop_worker
from vts_masking.store import Store

# The lease is what a loaded machine must not outlast: a worker stalled longer than it
# loses its claims and the event is (rightly, at least once) sent again, which these
# tests would count as a duplicate. 10 s holds on a 2-core machine under a full suite.
QUICK = {
    "VTS_EVENTS_LEASE": "10",
    "VTS_EVENTS_DEADLINE": "2",
    "VTS_EVENTS_BACKOFF_BASE": "0.2",
    "VTS_EVENTS_BACKOFF_CAP": "0.5",
    "VTS_EVENTS_BACKOFF_MIN": "0.05",
    "VTS_EVENTS_POLL": "0.05",
}


class AppWithWorker:
    """create_app with the worker hooks and the /metrics router, on a uvicorn thread."""

    def __init__(self, store: Store, data_dir: Path, **settings: object) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app: FastAPI = create_app(
            Settings(data_dir=data_dir, port=self.port, sip_enabled=False, **settings),
            store=store,
            background=False,
        )
        self.app.state.startup_hooks.append(start_worker)
        self.app.state.shutdown_hooks.append(stop_worker)
        self.app.include_router(metrics_router)
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> AppWithWorker:
        self.thread.start()
        wait_healthy(self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def tenant_client(store: Store, url: str, n_numbers: int) -> tuple[httpx.Client, str, str]:
    account = store.accounts.create("restart-tenant")
    store.numbers.add(account, [f"+1220400{i:04d}" for i in range(n_numbers)])
    http = httpx.Client(base_url=url, auth=(account.auth_id, account.auth_token), timeout=30)
    return http, account.auth_id, account.auth_token


def test_worker_hooks_deliver_sessions_created_over_the_api_and_count_them(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VTS_EVENTS_POLL", "0.05")
    store = Store(db_url)  # the real clock
    store.migrate()
    before = COUNTERS.snapshot()["delivered"]
    with Receiver() as rx, AppWithWorker(store, tmp_path, allow_private_callbacks=True) as live:
        http, auth_id, token = tenant_client(store, live.url, 3)
        uuids = []
        for i in range(3):
            r = http.post(
                f"/v1/Account/{auth_id}/Masking/Session/",
                json={
                    "first_party": us(10 + i),
                    "second_party": us(20 + i),
                    "callback_url": rx.url + "/cb",
                    "callback_method": "GET",
                },
            )
            assert r.status_code == 201, r.text
            uuids.append(r.json()["session_uuid"])
        rx.wait_for(lambda: len(rx.delivered()) == 3)
        assert {r.params["SessionUUID"] for r in rx.got()} == set(uuids)
        assert all(r.signature_valid(token) for r in rx.got())

        def logged() -> list[dict]:
            r = http.get(f"/v1/Account/{auth_id}/Masking/Session/{uuids[0]}/Event/")
            assert r.status_code == 200, r.text
            return r.json()["response"]["objects"]

        rx.wait_for(lambda: logged()[0]["status"] == "delivered")
        assert logged()[0]["attempts"] == 1 and logged()[0]["last_status"] == 200
        rx.wait_for(lambda: COUNTERS.snapshot()["delivered"] >= before + 3)
        metrics = httpx.get(live.url + "/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        lines = dict(
            line.rsplit(" ", 1) for line in metrics.text.splitlines() if not line.startswith("#")
        )
        assert float(lines["vts_events_delivered_total"]) >= before + 3
        assert float(lines['vts_events_outbox{status="pending"}']) == 0
        http.close()
    store.close()


def test_worker_disabled_in_settings_sends_nothing(db_url: str, tmp_path: Path) -> None:
    store = Store(db_url)
    store.migrate()
    with (
        Receiver() as rx,
        AppWithWorker(store, tmp_path, allow_private_callbacks=True, worker_enabled=False) as live,
    ):
        http, auth_id, _ = tenant_client(store, live.url, 1)
        r = http.post(
            f"/v1/Account/{auth_id}/Masking/Session/",
            json={"first_party": us(1), "second_party": us(2), "callback_url": rx.url},
        )
        assert r.status_code == 201
        assert getattr(live.app.state, "events_worker", None) is None
        http.close()
    assert rx.got() == [] and rows(store)[0].status == "pending"
    store.close()


def serve_with_worker(db_url: str, data_dir: Path) -> ServiceProcess:
    proc = ServiceProcess(db_url, data_dir, "--allow-private-callbacks", env=QUICK)
    # Same command line, through the launcher that registers the worker hooks.
    assert proc.args[1:3] == ["-m", "vts_masking.cli"]
    proc.args[1:3] = ["-m", "tests.integration.events.serve_with_worker"]
    # The repository (for the launcher under tests/) and this checkout's own src/, first,
    # so the child runs the code under test even where another checkout is installed.
    root = Path(__file__).resolve().parents[3]
    proc.env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), str(root)])
    return proc


def create_sessions(http: httpx.Client, auth_id: str, callback: str, n: int) -> None:
    for i in range(n):
        r = http.post(
            f"/v1/Account/{auth_id}/Masking/Session/",
            json={
                "first_party": us(100 + i),
                "second_party": us(200 + i),
                "callback_url": callback,
            },
        )
        assert r.status_code == 201, r.text


def test_events_for_a_down_receiver_all_arrive_after_sigkill_and_restart(
    db_url: str, tmp_path: Path
) -> None:
    store = Store(db_url)
    store.migrate()
    port = free_port()  # nothing listens here yet: the receiver is down
    proc = serve_with_worker(db_url, tmp_path).start()
    try:
        http, auth_id, token = tenant_client(store, proc.url, 10)
        create_sessions(http, auth_id, f"http://127.0.0.1:{port}/cb", 10)
        wait_for(lambda: all(r.attempts >= 1 for r in rows(store)))
        proc.stop(kill=True)
        assert {r.status for r in rows(store)} <= {"pending", "delivering"}
        with Receiver(port=port) as rx:
            proc = serve_with_worker(db_url, tmp_path).start()
            rx.wait_for(lambda: all(r.status == "delivered" for r in rows(store)), timeout=60)
        http.close()
    finally:
        proc.stop()
        store.close()
    keys = Counter(r.key for r in rx.got())
    assert len(keys) == 10
    assert set(keys.values()) == {1}  # nothing was in flight at the kill: no duplicates
    assert all(r.signature_valid(token) for r in rx.got())


def test_sigkill_mid_delivery_redelivers_only_what_was_in_flight(
    db_url: str, tmp_path: Path
) -> None:
    store = Store(db_url)
    store.migrate()
    slow = threading.Event()
    slow.set()

    def respond(r) -> int:
        if slow.is_set():
            threading.Event().wait(1.5)  # the service is killed while this request waits
        return 200

    with Receiver(respond=respond) as rx:
        proc = serve_with_worker(db_url, tmp_path).start()
        try:
            http, auth_id, _ = tenant_client(store, proc.url, 8)
            create_sessions(http, auth_id, rx.url + "/cb", 8)
            rx.wait_for(lambda: len(rx.started) >= 1)
            proc.stop(kill=True)
            # A request the killed process had already sent may still sit in the
            # receiver's socket buffer: give the receiver a moment to start it, so it
            # counts as in flight (it was) rather than as a later duplicate.
            time.sleep(1.0)
            in_flight_at_kill = set(rx.started)
            slow.clear()
            proc = serve_with_worker(db_url, tmp_path).start()
            rx.wait_for(lambda: all(r.status == "delivered" for r in rows(store)), timeout=60)
            http.close()
        finally:
            proc.stop()
            store.close()
    keys = Counter(r.key for r in rx.got())
    assert len(keys) == 8
    duplicated = {k for k, n in keys.items() if n > 1}
    assert duplicated <= in_flight_at_kill
    print(
        json.dumps({"in_flight": len(in_flight_at_kill), "duplicated": len(duplicated)}),
        file=sys.stderr,
    )
