"""The garbage collector's settings for a long-running server process.

A busy SIP edge keeps tens of thousands of objects alive for half a minute (transactions
in their 32-second waits, dialogs, relays), and allocates a few thousand more per call.
With CPython's default thresholds (700, 10, 10) a full collection, which walks every
live object, comes every 70 000 allocations: at 300 calls/s three in eight seconds, each
a 60–80 ms pause of the event loop — SIP setup latency — 0.40 s of collector time in all.
With (700, 10, 100) a full collection needs ten times the allocations: none in the same
run, 0.18 s of collector time. The young generations keep their defaults: raising the
first threshold too, (10 000, 10, 10), took as little collector time but made session
reads about 10 % slower in two of three same-run API benchmarks (a young collection
then walks more memory than the caches hold; docs/benchmarks.md, 2026-12-06).
Cyclic garbage that reaches the oldest generation waits longer to be freed.
"""

from __future__ import annotations

import gc

THRESHOLDS = (700, 10, 100)


def settle() -> None:
    """Call once everything the process keeps for its lifetime is loaded: collect, move
    the survivors out of every future collection (``gc.freeze``) and set
    :data:`THRESHOLDS`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
