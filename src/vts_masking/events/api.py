"""``GET /metrics``: the delivery counters and outbox gauges for Prometheus (no auth).

The page holds counts only, no customer data; operators who do not want it public put
it behind their proxy like any other operations endpoint.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from .metrics import CONTENT_TYPE, COUNTERS, render
from .outbox_repo import OutboxRepo

GAUGE_STATUSES = ("pending", "delivering", "failed")

router = APIRouter(tags=["Operations"])


@router.get("/metrics", summary="Prometheus metrics (event delivery)")
async def metrics(request: Request) -> Response:
    store = request.app.state.store
    outbox = await run_in_threadpool(OutboxRepo(store.db).counts, GAUGE_STATUSES)
    text = render(COUNTERS.snapshot(), outbox)
    # other rooms' metrics (the SIP edge's trunks), registered by the service assembly
    for source in getattr(request.app.state, "metrics_sources", ()):
        text += "\n".join(source()) + "\n"
    return Response(text, media_type=CONTENT_TYPE)
