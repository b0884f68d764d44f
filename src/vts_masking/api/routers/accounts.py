"""The account and its subaccounts: ``/v1/Account/{auth_id}/`` (spec §4)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ...domain import coerce, errors
from ...domain.list_filters import parse_paging
from ...domain.views import fmt_time
from ...store import Account, Principal
from ..deps import get_store, principal
from ..idempotency import answer_once, idempotency_of
from ..parsing import body_params, query_params
from ..render import meta, ok

router = APIRouter(tags=["Accounts"])
BASE = "/v1/Account/{auth_id}"


def account_view(row: Any, parent_auth_id: str | None = None) -> dict[str, Any]:
    return {
        "auth_id": row.auth_id,
        "name": row.name,
        "account_type": "subaccount" if row.parent_id else "main",
        "enabled": bool(row.enabled),
        "parent_auth_id": parent_auth_id,
        "created_time": fmt_time(row.created_time),
        "modified_time": fmt_time(row.modified_time),
        "resource_uri": f"/v1/Account/{row.auth_id}/",
    }


@router.get(BASE, summary="Get the account")
async def get_account(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    store = get_store(request)
    target = who.subaccount or who.main
    row = await run_in_threadpool(store.accounts.row, target.id)
    parent = who.main.auth_id if who.subaccount else None
    return ok({"response": account_view(row, parent)})


def _main_only(who: Principal) -> None:
    if who.subaccount is not None:
        raise errors.Forbidden("Forbidden. Only a main account manages subaccounts.")


@router.post(BASE + "/Subaccount", status_code=201, summary="Create a subaccount")
async def create_subaccount(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    _main_only(who)
    raw = await body_params(request)
    name = coerce.text("name", raw.get("name"))
    if not name:
        raise errors.missing("name")
    enabled = coerce.boolean("enabled", raw.get("enabled"))
    store = get_store(request)
    idem = idempotency_of(request, who, raw)

    api_id = str(uuid.uuid4())  # the kept answer and this one must be the same

    def render(sub: Account) -> dict[str, Any]:
        return {
            "api_id": api_id,
            "message": "Subaccount created",
            "auth_id": sub.auth_id,
            "auth_token": sub.auth_token,
        }

    async def create() -> JSONResponse:
        sub = await run_in_threadpool(
            lambda: store.accounts.create(
                name, parent=who.main, enabled=enabled is not False, idem=idem, render=render
            )
        )
        return JSONResponse(render(sub), status_code=201)

    # Kept in the create's own transaction: a retried create never makes a second one.
    return await answer_once(request, idem, create, keep=False)


@router.get(BASE + "/Subaccount", summary="List subaccounts")
async def list_subaccounts(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    _main_only(who)
    raw = query_params(request)
    limit, offset = parse_paging(raw)
    store = get_store(request)
    total, rows = await run_in_threadpool(store.accounts.list_subaccounts, who.main, limit, offset)
    path = request.url.path.rstrip("/") + "/"
    return ok(
        {
            "response": {
                "meta": meta(path, {}, limit, offset, total),
                "objects": [account_view(r, who.main.auth_id) for r in rows],
            }
        }
    )


@router.get(BASE + "/Subaccount/{sub_auth_id}", summary="Get a subaccount")
async def get_subaccount(
    sub_auth_id: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    _main_only(who)
    store = get_store(request)

    def work() -> Any:
        sub = store.accounts.subaccount_of(who.main, sub_auth_id)
        return store.accounts.row(sub.id)

    row = await run_in_threadpool(work)
    return ok({"response": account_view(row, who.main.auth_id)})


@router.post(BASE + "/Subaccount/{sub_auth_id}", summary="Update a subaccount")
async def update_subaccount(
    sub_auth_id: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    _main_only(who)
    raw = await body_params(request)
    name = coerce.text("name", raw.get("name"))
    enabled = coerce.boolean("enabled", raw.get("enabled"))
    store = get_store(request)

    def work() -> Any:
        sub = store.accounts.subaccount_of(who.main, sub_auth_id)
        store.accounts.update_subaccount(sub, name=name, enabled=enabled)
        return store.accounts.row(sub.id)

    async def update() -> JSONResponse:
        row = await run_in_threadpool(work)
        view = account_view(row, who.main.auth_id)
        return ok({"message": "Subaccount updated", "response": view})

    return await answer_once(request, idempotency_of(request, who, raw), update, keep=True)


@router.delete(BASE + "/Subaccount/{sub_auth_id}", summary="Delete a subaccount")
async def delete_subaccount(
    sub_auth_id: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    _main_only(who)
    store = get_store(request)

    def work() -> None:
        sub = store.accounts.subaccount_of(who.main, sub_auth_id)
        store.accounts.delete_subaccount(sub)

    async def remove() -> JSONResponse:
        await run_in_threadpool(work)
        return ok({"message": "Subaccount deleted"})

    return await answer_once(request, idempotency_of(request, who), remove, keep=True)
