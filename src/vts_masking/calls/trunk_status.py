"""``GET /trunks/status`` and the SIP edge's trunk metrics: what the operator sees.

Per trunk: its address and transport, registration state (registered, seconds to
expiry, the next REGISTER, counters of attempts, successes, failures and challenges)
and its digest counters; for the edge: requests refused by the access list (by source,
the busiest first) and inbound digest challenges. ``vts-masking trunks status`` reads
the JSON; :func:`prometheus_lines` feeds ``/metrics``.

Only loopback clients get the JSON (it names carriers' addresses): an operator asks from
the node itself, or through their own proxy. Nothing of customers is in it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..api.errors import error_response

router = APIRouter(tags=["Operations"])


def snapshot(engine: Any) -> dict[str, Any]:
    b2bua = engine.b2bua
    acl = b2bua.transport.acl
    refused = dict(sorted((acl.refused if acl else {}).items(), key=lambda kv: -kv[1])[:20])
    return {
        "trunks": b2bua.trunk_status(),
        "access_list": {
            "refused_total": acl.refused_total if acl else 0,
            "refused_by_source": refused,
            "allow_loopback": acl.allow_loopback if acl else True,
        },
        "inbound_auth": dict(b2bua.auth_stats),
        "tls_failed": b2bua.transport.stats.get("tls_failed", 0),
    }


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
    engine = getattr(request.app.state, "calls", None)
    if engine is None:
        return error_response(404, "The SIP edge is not running on this node.")
    return JSONResponse(snapshot(engine))


def prometheus_lines(engine: Any) -> list[str]:
    """Gauges and counters of the trunks for the exposition text of ``/metrics``."""
    snap = snapshot(engine)
    lines = [
        "# HELP vts_sip_trunk_registered 1 while the trunk's registration holds.",
        "# TYPE vts_sip_trunk_registered gauge",
    ]
    counters: dict[str, list[str]] = {
        "register_attempts": [],
        "register_failures": [],
        "challenges_answered": [],
        "challenges_refused": [],
    }
    for t in snap["trunks"]:
        name = t["name"].replace('"', "")
        reg = t["registration"]
        if reg is not None:
            lines.append(f'vts_sip_trunk_registered{{trunk="{name}"}} {int(reg["registered"])}')
            counters["register_attempts"].append(f'{{trunk="{name}"}} {reg["attempts"]}')
            counters["register_failures"].append(f'{{trunk="{name}"}} {reg["failures"]}')
        counters["challenges_answered"].append(f'{{trunk="{name}"}} {t["challenges_answered"]}')
        counters["challenges_refused"].append(f'{{trunk="{name}"}} {t["challenges_refused"]}')
    for key, values in counters.items():
        metric = f"vts_sip_trunk_{key}_total"
        lines += [f"# TYPE {metric} counter", *(metric + v for v in values)]
    lines += [
        "# HELP vts_sip_acl_refused_total Requests refused: not from a trunk (403).",
        "# TYPE vts_sip_acl_refused_total counter",
        f"vts_sip_acl_refused_total {snap['access_list']['refused_total']}",
        "# TYPE vts_sip_inbound_challenges_total counter",
        f"vts_sip_inbound_challenges_total {snap['inbound_auth']['challenged']}",
        "# TYPE vts_sip_tls_failed_total counter",
        f"vts_sip_tls_failed_total {snap['tls_failed']}",
    ]
    return lines
