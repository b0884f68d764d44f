"""``GET /trunks/status``: the SIP edge's trunks, registrations and counters.

Only loopback clients get it (it names carriers' addresses): an operator asks from the
node itself, or through their own proxy. The JSON is made by the call engine's side
(``app.state.trunk_snapshot``, set by ``service.py`` when the SIP edge runs), so this
router knows nothing of calls.
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..errors import error_response
from ..routing import DirectRoute

router = APIRouter(tags=["Operations"], route_class=DirectRoute)


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get("/trunks/status", summary="SIP trunks: registration and counters (loopback only)")
async def trunks_status(request: Request) -> JSONResponse:
    if not _loopback(request):
        return error_response(403, "Trunk status is served to the node itself only.")
    snapshot = getattr(request.app.state, "trunk_snapshot", None)
    if snapshot is None:
        return error_response(404, "The SIP edge is not running on this node.")
    return JSONResponse(snapshot())
