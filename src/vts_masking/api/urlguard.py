"""The outbound-URL guard at the API: a URL the service could never reach is a 400.

The readers (:func:`vts_masking.domain.coerce.url`) already refused URLs of a bad shape
for everyone. This is the second half, which depends on the operator's settings: a URL
whose target is not public — a literal private address, ``localhost``, or a name whose
addresses (resolved now, within :data:`RESOLVE_TIMEOUT`) include a non-public one — is
refused with a 400 naming the parameter, unless the operator allows private targets
(``--allow-private-callbacks`` for callbacks and ``answer_url``;
``VTS_PROMPTS_ALLOW_PRIVATE`` for play URLs).

A name that does not resolve now is accepted: DNS for a customer's new endpoint may not
be published yet, and the fetchers check every address again when they connect
(:mod:`vts_masking.guarded_http`), so what DNS answers later is what counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import Request

from .. import guarded_http
from ..domain import errors, outbound
from ..domain.session_params import CALLBACK_URLS, PLAY_URLS

RESOLVE_TIMEOUT = 2.0  # seconds; past it the name is accepted (checked again at fetch)


async def _problem(url: str) -> str | None:
    try:
        target = outbound.parse(url)
    except outbound.UnsafeUrl as exc:  # the readers refuse these first; kept for safety
        return exc.reason
    why = outbound.host_problem(target)
    if why is not None or target.address is not None:
        return why
    try:
        addresses = await asyncio.wait_for(
            guarded_http.resolve(target.host, target.port), RESOLVE_TIMEOUT
        )
    except (OSError, TimeoutError, UnicodeError):
        return None
    for text in addresses:
        try:
            guarded_http.check_addresses(target.host, [text])
        except guarded_http.UnsafeTarget:
            return f"{target.host} resolves to the non-public address {text}"
    return None


async def vet(request: Request, urls: Iterable[tuple[str, str | None]], *, play: bool) -> None:
    """Refuse the first of ``urls`` ((parameter, URL) pairs) whose target is not public."""
    settings = request.app.state.settings
    allowed = settings.prompts_allow_private if play else settings.allow_private_callbacks
    if allowed:
        return
    for name, url in urls:
        if not url:
            continue
        why = await _problem(url)
        if why is not None:
            raise errors.invalid(name, f"must point at a public address ({why})")


async def vet_session_urls(request: Request, values: Mapping[str, Any]) -> None:
    """The URL parameters of a session create or update (``values`` maps name to URL)."""
    await vet(request, ((n, values.get(n)) for n in CALLBACK_URLS), play=False)
    await vet(request, ((n, values.get(n)) for n in PLAY_URLS), play=True)
