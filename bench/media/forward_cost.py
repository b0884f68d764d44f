"""What writing our own RTP header costs per forwarded packet, beside its baseline.

Since the relay stopped forwarding phones' packets as they came (their SSRC, numbering,
extensions and padding crossed), each packet is re-headed by the receiving leg's
``crossing.RtpStream``. This measures, in one process and one run, the per-packet time of:

- ``as_is``: what the relay did for same-codec legs before (the packet passed on);
- ``pt_rewrite``: what it did when the legs' payload numbers differed (a new first two
  bytes, the rest copied);
- ``ours``: what it does now (find the payload, write our header, copy the payload);
- ``ours_transcoded``: the same with a PCMU→PCMA ``translate`` of the payload;

each followed by the ``sendto`` the relay makes (to a local socket nobody reads, so the
kernel's share is in every figure), and prints medians of several rounds and the ratios
to ``as_is``::

    PYTHONPATH=src python bench/media/forward_cost.py
"""

from __future__ import annotations

import socket
import statistics
import time

from vts_masking.media import g711
from vts_masking.media.crossing import RtpStream
from vts_masking.media.rtp import RtpPacket, payload_end, payload_offset

N = 50_000
ROUNDS = 7


def main() -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    dest = sink.getsockname()
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setblocking(False)
    packets = [RtpPacket(0, i & 0xFFFF, i * 160, 0x1234, b"\x55" * 160).build() for i in range(N)]
    stream = RtpStream()
    table = g711.ULAW_TO_ALAW_BYTES

    def send(data: bytes) -> None:
        # as the relay does it (a try, not contextlib.suppress: that would cost more)
        try:  # noqa: SIM105
            out.sendto(data, dest)
        except BlockingIOError:
            pass

    def as_is() -> None:
        for p in packets:
            send(p)

    def pt_rewrite() -> None:
        for p in packets:
            send(bytes((p[0], (p[1] & 0x80) | 8)) + p[2:])

    def ours() -> None:
        now = 0.0
        for p in packets:
            off = payload_offset(p)
            send(stream.forward(p, 8, p[off : payload_end(p)], now))

    def ours_transcoded() -> None:
        now = 0.0
        for p in packets:
            off = payload_offset(p)
            send(stream.forward(p, 8, p[off : payload_end(p)].translate(table), now))

    cases = {
        "as_is": as_is,
        "pt_rewrite": pt_rewrite,
        "ours": ours,
        "ours_transcoded": ours_transcoded,
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(ROUNDS):
        for name, fn in cases.items():  # interleaved: drift hits every case alike
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) / N * 1e6)
    base = statistics.median(times["as_is"])
    print(f"per forwarded packet, median of {ROUNDS} rounds of {N} (µs; ratio to as_is)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:16} {med:6.2f} µs  x{med / base:4.2f}")
    out.close()
    sink.close()


if __name__ == "__main__":
    main()
