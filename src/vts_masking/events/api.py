"""``GET /metrics``: every series of this process and the store's gauges, for Prometheus
(no auth).

The page holds counts only, no customer data beyond pool auth_ids; operators who do not
want it public put it behind their proxy like any other operations endpoint. Mounted by
``serve`` on its HTTP port and by ``worker --metrics-port``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from .. import metrics

router = APIRouter(tags=["Operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def metrics_page(request: Request) -> Response:
    extra = getattr(request.app.state, "metrics_collectors", ())
    page = await run_in_threadpool(metrics.render, request.app.state.store, extra)
    return Response(page, media_type=metrics.CONTENT_TYPE)
