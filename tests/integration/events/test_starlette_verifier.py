"""The other side of the signature: a Starlette receiver verifying with the SDK helper."""

from __future__ import annotations

import threading

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.integration.events.conftest import drain, emit, new_session, rows
from tests.support.live import free_port, wait_healthy
from vts.signature import validate_starlette_request
from vts_masking.events.worker import DeliveryWorker, WorkerConfig
from vts_masking.store import Account, Store


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_starlette_receiver_accepts_every_signature(
    store: Store, account: Account, method: str
) -> None:
    verdicts: list[bool] = []

    async def hook(request: Request) -> PlainTextResponse:
        ok = await validate_starlette_request(request, account.auth_token)
        verdicts.append(ok)
        return PlainTextResponse("ok" if ok else "bad signature", status_code=200 if ok else 403)

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/hook", hook, methods=["GET", "POST"]), Route("/health", health)]
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_healthy(f"http://127.0.0.1:{port}")
    try:
        session = new_session(
            store, account, callback_url=f"http://127.0.0.1:{port}/hook", callback_method=method
        )
        emit(store, session, "SessionFirstPartyAnswer", "SessionTimeout")
        w = DeliveryWorker(store.db, allow_private=True, config=WorkerConfig(lease=30, deadline=5))
        await drain(w)
        await w.aclose()
    finally:
        server.should_exit = True
        thread.join(10)
    assert verdicts == [True, True, True]
    assert {r.status for r in rows(store)} == {"delivered"}
