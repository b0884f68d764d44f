"""Fetching a number's application (docs/calls.md) from its ``answer_url``.

The request is a POST form (``CallUUID``, ``From``, ``To``, ``Direction``) sent with the
same guarded client as event callbacks: http(s) only, no private addresses unless the
operator allows them, no redirects, bounded time and size.
"""

from __future__ import annotations

import logging

import httpx

from .. import badinput
from ..domain.appxml import MAX_DOCUMENT, AppXmlError, Verb, parse
from ..guarded_http import UnsafeTarget, check_url, make_client

log = logging.getLogger("vts_masking.calls.application")


async def fetch_application(
    url: str,
    *,
    call_uuid: str,
    from_number: str,
    to_number: str,
    allow_private: bool,
    timeout: float = 5.0,
) -> list[Verb] | None:
    """The verbs the application answers with, or None (logged) when it cannot run."""
    try:
        check_url(url)
    except UnsafeTarget as exc:
        badinput.note("unsafe_url", f"answer_url {url!r}: {exc}")
        return None
    form = {"CallUUID": call_uuid, "From": from_number, "To": to_number, "Direction": "inbound"}
    try:
        async with (
            make_client(
                allow_private=allow_private,
                concurrency=1,
                connect_timeout=timeout,
                read_timeout=timeout,
            ) as client,
            client.stream("POST", url, data=form) as response,
        ):
            if response.status_code // 100 != 2:
                log.warning("answer_url %s answered %s", url, response.status_code)
                return None
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT:
                    log.warning("answer_url %s: document too large", url)
                    return None
    except UnsafeTarget as exc:  # checked again on the address connected to
        badinput.note("unsafe_url", f"answer_url {url!r}: {exc}")
        return None
    except (httpx.HTTPError, OSError) as exc:
        log.warning("answer_url %s failed: %s", url, exc)
        return None
    try:
        return parse(body)
    except AppXmlError as exc:
        log.warning("answer_url %s: %s", url, exc)
        return None
