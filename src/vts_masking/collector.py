"""The garbage collector's settings for a long-running server process.

A busy SIP edge keeps tens of thousands of objects alive for half a minute (transactions
in their 32-second waits, dialogs, relays), and allocates a few thousand more per call.
With CPython's default thresholds (700, 10, 10) a full collection, which walks every
live object, comes every 70 000 allocations: at 300 calls/s three in eight seconds, each
a 60–80 ms pause of the event loop — SIP setup latency — and 0.39 s of CPU in all. With
(10 000, 10, 10) the same run had no full collection and 0.17 s of collector CPU; a
young collection takes a few milliseconds (docs/benchmarks.md, 2026-12-06). Cycles live
longer before they are found (at most ten thousand allocations in the young generation),
which costs kilobytes.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 10, 10)


def settle() -> None:
    """Call once everything the process keeps for its lifetime is loaded: collect, move
    the survivors out of every future collection (``gc.freeze``) and set
    :data:`THRESHOLDS`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
