"""The account and its subaccounts: ``/v1/Account/{auth_id}/``.

docs/reference.md#account-and-subaccounts.

Answers are top-level objects and ``{api_id, meta, objects}`` lists, as the family's
official SDKs read them (only masking sessions wrap what they return in ``response``).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ...domain import coerce, errors
from ...domain.list_filters import parse_paging
from ...domain.views import account_view, subaccount_view
from ...store import Account, Principal
from ..deps import get_store, principal
from ..idempotency import answer_once, idempotency_of
from ..params import body, delete_params, query
from ..render import list_page, ok
from ..routing import DirectRoute

router = APIRouter(tags=["Accounts"], route_class=DirectRoute)
BASE = "/v1/Account/{auth_id}"


def _own(who: Principal) -> tuple[Account, str | None]:
    """The account the path names and its main account's auth id (for a subaccount)."""
    if who.subaccount is not None:
        return who.subaccount, who.main.auth_id
    return who.main, None


@router.get(BASE, summary="Get the account")
async def get_account(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    store = get_store(request)
    target, parent = _own(who)
    row = await run_in_threadpool(store.accounts.row, target.id)
    return ok(account_view(row, parent_auth_id=parent))


@router.post(BASE, summary="Update the account (name, city, address)")
async def update_account(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    raw = await body(request)
    name = coerce.text("name", raw.get("name"))
    city = coerce.text("city", raw.get("city"))
    address = coerce.text("address", raw.get("address"), 1000)
    store = get_store(request)
    target, parent = _own(who)

    def work() -> Any:
        store.accounts.update(target, name=name, city=city, address=address)
        return store.accounts.row(target.id)

    async def update() -> JSONResponse:
        row = await run_in_threadpool(work)
        return ok({"message": "Account updated", **account_view(row, parent_auth_id=parent)})

    return await answer_once(request, idempotency_of(request, who, raw), update, keep=True)


def _main_only(who: Principal) -> None:
    if who.subaccount is not None:
        raise errors.Forbidden("Forbidden. Only a main account manages subaccounts.")


@router.post(BASE + "/Subaccount", status_code=201, summary="Create a subaccount")
async def create_subaccount(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    _main_only(who)
    raw = await body(request)
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
    raw = query(request)
    limit, offset = parse_paging(raw)
    store = get_store(request)
    total, rows = await run_in_threadpool(store.accounts.list_subaccounts, who.main, limit, offset)
    objects = [subaccount_view(r, who.main.auth_id) for r in rows]
    return ok(list_page(request, {}, limit, offset, total, objects))


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
    return ok(subaccount_view(row, who.main.auth_id))


@router.post(BASE + "/Subaccount/{sub_auth_id}", summary="Update a subaccount")
async def update_subaccount(
    sub_auth_id: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    _main_only(who)
    raw = await body(request)
    name = coerce.text("name", raw.get("name"))
    enabled = coerce.boolean("enabled", raw.get("enabled"))
    store = get_store(request)

    def work() -> Any:
        sub = store.accounts.subaccount_of(who.main, sub_auth_id)
        store.accounts.update(sub, name=name, enabled=enabled)
        return store.accounts.row(sub.id)

    async def update() -> JSONResponse:
        row = await run_in_threadpool(work)
        return ok({"message": "Subaccount updated", **subaccount_view(row, who.main.auth_id)})

    return await answer_once(request, idempotency_of(request, who, raw), update, keep=True)


@router.delete(BASE + "/Subaccount/{sub_auth_id}", summary="Delete a subaccount")
async def delete_subaccount(
    sub_auth_id: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    """Its numbers go back to the main account's pool, or with ``cascade=true`` (the
    family's parameter) leave the pool with it."""
    _main_only(who)
    raw = await delete_params(request)
    cascade = coerce.boolean("cascade", raw.get("cascade")) or False
    store = get_store(request)

    def work() -> None:
        sub = store.accounts.subaccount_of(who.main, sub_auth_id)
        store.accounts.delete_subaccount(sub, cascade=cascade)

    async def remove() -> JSONResponse:
        await run_in_threadpool(work)
        return ok({"message": "Subaccount deleted"})

    return await answer_once(request, idempotency_of(request, who, raw), remove, keep=True)
