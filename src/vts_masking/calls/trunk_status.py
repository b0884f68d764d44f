"""The SIP edge's trunk state and metrics: what the operator sees.

Per trunk: its address and transport, registration state (registered, seconds to
expiry, the next REGISTER, counters of attempts, successes, failures and challenges)
and its digest counters; for the edge: requests refused by the access list (by source,
the busiest first) and inbound digest challenges. :func:`snapshot` is the JSON that
``GET /trunks/status`` serves (:mod:`vts_masking.api.routers.trunks`) and
``vts-masking trunks status`` reads; :class:`TrunkCollector` feeds ``/metrics``.
Nothing of customers is in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


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


class TrunkCollector:
    """The trunks' gauges and counters for ``/metrics`` (a prometheus_client collector,
    read from the engine's live state at each scrape)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        snap = snapshot(self.engine)
        registered = GaugeMetricFamily(
            "vts_sip_trunk_registered",
            "1 while the trunk's registration holds.",
            labels=["trunk"],
        )
        families = {
            key: CounterMetricFamily(f"vts_sip_trunk_{key}", help_, labels=["trunk"])
            for key, help_ in (
                ("register_attempts", "REGISTER requests sent to the trunk."),
                ("register_failures", "Registrations the trunk refused or never answered."),
                ("challenges_answered", "401/407 challenges from the trunk answered."),
                ("challenges_refused", "Challenges not answered (wrong or no credentials)."),
            )
        }
        for t in snap["trunks"]:
            name = [t["name"]]
            reg = t["registration"]
            if reg is not None:
                registered.add_metric(name, int(reg["registered"]))
                families["register_attempts"].add_metric(name, reg["attempts"])
                families["register_failures"].add_metric(name, reg["failures"])
            families["challenges_answered"].add_metric(name, t["challenges_answered"])
            families["challenges_refused"].add_metric(name, t["challenges_refused"])
        yield registered
        yield from families.values()
        for metric, help_, value in (
            (
                "vts_sip_acl_refused",
                "Requests refused: not from a trunk (403).",
                snap["access_list"]["refused_total"],
            ),
            (
                "vts_sip_inbound_challenges",
                "Inbound requests challenged for digest credentials.",
                snap["inbound_auth"]["challenged"],
            ),
            ("vts_sip_tls_failed", "TLS handshakes that failed.", snap["tls_failed"]),
        ):
            yield CounterMetricFamily(metric, help_, value=value)
