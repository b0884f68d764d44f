"""Templates and responses of the console: Jinja2 from the installed package, HTML
responses with the headers every console page carries, links that keep the operator's
chosen account."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from ..domain.views import fmt_money, fmt_time
from .auth import CSRF_FIELD, Viewer

PREFIX = "/console"

# The console loads nothing from elsewhere (its script, styles and media are its own), is
# never framed, and never cached: a page may show a recording or a tenant's numbers.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

env = Environment(
    loader=PackageLoader("vts_masking.console", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["time"] = lambda v: fmt_time(v) if v is not None and not isinstance(v, str) else v
env.filters["money"] = fmt_money


def link(viewer: Viewer | None, path: str, **params: Any) -> str:
    """A console URL; the operator's chosen account goes along so pages stay scoped."""
    query = {k: v for k, v in params.items() if v not in (None, "")}
    if viewer is not None and viewer.is_operator and viewer.main is not None:
        query.setdefault("account", viewer.main.auth_id)
    url = PREFIX + path
    return f"{url}?{urlencode(query)}" if query else url


env.globals["link"] = link
env.globals["CSRF_FIELD"] = CSRF_FIELD


def html(
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    body = env.get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})
