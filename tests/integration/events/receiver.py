"""A real HTTP receiver on loopback that records every callback it gets.

Threaded (``http.server``), so requests of different events are served at once and the
receiver can notice two requests for the *same* event in flight together. Its answer is
chosen per request by ``respond`` (default 200), and it may ``hold`` each request a while
to widen the window in which an overlap would show.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from vts.signature import NONCE_HEADER, SIGNATURE_HEADER, validate_v3_signature


@dataclass
class Received:
    method: str
    url: str  # as the receiver rebuilds it: http://Host + request target
    headers: dict[str, str]
    params: dict[str, str]
    body: bytes
    status: int = 0

    @property
    def key(self) -> tuple[str, str]:
        """One event: its session and sequence number."""
        return self.params.get("SessionUUID", ""), self.params.get("SequenceNumber", "")

    @property
    def seq(self) -> int:
        return int(self.params["SequenceNumber"])

    def signature_valid(self, auth_token: str) -> bool:
        """What a customer's code does with the SDK's verifier."""
        return validate_v3_signature(
            self.method,
            self.url,
            None if self.method == "GET" else self.params,
            self.headers.get(NONCE_HEADER.lower(), ""),
            self.headers.get(SIGNATURE_HEADER.lower(), ""),
            auth_token,
        )


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 resets connections when a worker opens dozens at once.
    request_queue_size = 256


@dataclass
class Receiver:
    respond: Callable[[Received], int] = field(default=lambda r: 200)
    hold: float = 0.0
    body: bytes = b"ok"
    port: int = 0  # 0: any free port
    started: list[tuple[str, str]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    overlaps: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, str], int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = urlsplit(self.path)
                if self.command == "GET":
                    params = dict(parse_qsl(target.query, keep_blank_values=True))
                else:
                    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
                rec = Received(
                    self.command,
                    f"http://{self.headers['Host']}{self.path}",
                    {k.lower(): v for k, v in self.headers.items()},
                    params,
                    body,
                )
                status = receiver._serve(rec)
                payload = receiver.body
                self.send_response(status)
                if status in (301, 302, 303, 307, 308):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

        self.server = _Server(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _serve(self, rec: Received) -> int:
        with self._lock:
            self.started.append(rec.key)
            if self._in_flight.get(rec.key):
                self.overlaps.append(rec.key)
            self._in_flight[rec.key] = self._in_flight.get(rec.key, 0) + 1
        try:
            if self.hold:
                time.sleep(self.hold)
            rec.status = self.respond(rec)
        finally:
            with self._lock:
                self._in_flight[rec.key] -= 1
                self.requests.append(rec)
        return rec.status

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def got(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def delivered(self) -> list[Received]:
        return [r for r in self.got() if 200 <= r.status < 300]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        wait_for(predicate, timeout, lambda: f"receiver got {len(self.got())} requests")


def wait_for(
    predicate: Callable[[], bool],
    timeout: float = 20.0,
    why: Callable[[], str] = lambda: "",
) -> None:
    """Wait (polling) until ``predicate()`` holds; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; {why()}")
        time.sleep(0.02)
