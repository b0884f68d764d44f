"""deploy/grafana/vts-masking.json asks only for series the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from vts_masking import metrics
from vts_masking.store import Store

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "vts-masking.json"


def test_every_series_the_dashboard_queries_is_on_the_metrics_page(db_url: str) -> None:
    store = Store(db_url, pool_size=1)
    store.migrate()
    account = store.accounts.create("Dash")
    store.numbers.add(account, ["+12205550090"])  # so the per-pool gauges have a sample
    try:
        page = metrics.render(store).decode()
    finally:
        store.close()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    samples = {
        family.name + suffix
        for family in text_string_to_metric_families(page)  # labelled ones too, before use
        for suffix in suffixes.get(family.type, ("",))
    }
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    wanted = {name for expr in exprs for name in re.findall(r"\bvts_[a-z_]+", expr)}
    assert wanted and wanted <= samples, sorted(wanted - samples)
