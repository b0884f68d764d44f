"""The number pool: ``/v1/Account/{auth_id}/Number/`` (docs/reference.md#numbers).

The family's number API mapped onto the pool: ``create`` (the SDKs' ``numbers.create`` /
``addOwnNumber``, with ``carrier`` and ``region`` accepted and not kept: the trunk is the
operator's) adds numbers, ``list``/``get``/``update`` read and change them, ``delete``
(``unrent``) takes them out. Objects and lists are top-level, as the SDKs read them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ...domain import coerce, errors
from ...domain.list_filters import UNKEPT_NUMBER_FILTERS, parse_paging, parse_prefix, refuse_unkept
from ...domain.views import account_path, number_view
from ...store import Principal
from ...store.numbers import NumberFilters
from ..deps import get_store, principal
from ..idempotency import answer_once, idempotency_of
from ..params import body, delete_params, query
from ..render import list_page, ok
from ..routing import DirectRoute
from ..urlguard import vet

router = APIRouter(tags=["Numbers"], route_class=DirectRoute)
BASE = "/v1/Account/{auth_id}/Number"


# The rules below are shared with the web console (console/routes.py), which manages the
# pool under the same rules as the API.


def split_numbers(value: Any) -> list[str]:
    """``numbers`` as sent: one number, a comma-separated list, or a JSON list."""
    if isinstance(value, list):
        items = [str(v) for v in value]
    elif isinstance(value, str | int) and not isinstance(value, bool):
        items = str(value).split(",")
    else:
        raise errors.invalid("numbers", "must be a number or a comma-separated list")
    return [i.strip() for i in items if i.strip()]


def subaccount_ids(store: Any, who: Principal) -> dict[int, str]:
    """The pools ``who`` may see, by id → their subaccount auth id."""
    if who.subaccount is not None:
        return {who.subaccount.id: who.subaccount.auth_id}
    _, rows = store.accounts.list_subaccounts(who.main, 10_000, 0)
    return {r.id: r.auth_id for r in rows}


def _views(who: Principal, rows: list[dict[str, Any]], subs: dict[int, str]) -> list[dict]:
    root = account_path(who.path_auth_id)
    return [number_view(r, root, subs.get(r["pool_id"])) for r in rows]


def pool_for(store: Any, who: Principal, raw: dict[str, Any]) -> Any:
    """The subaccount whose pool ``raw["subaccount"]`` names (None: the main account's);
    a subaccount may only name itself."""
    sub_id = coerce.text("subaccount", raw.get("subaccount"), 20)
    if who.subaccount is not None:
        if sub_id and sub_id != who.subaccount.auth_id:
            raise errors.invalid("subaccount", "is not this subaccount")
        return who.subaccount
    if sub_id:
        sub = store.accounts.by_auth_id(sub_id)
        if sub is None or sub.parent_id != who.main.id:
            raise errors.invalid("subaccount", "is not a subaccount of this account")
        return sub
    return None


NUMBER_TYPES = ("local", "mobile", "tollfree", "national")
SERVICES = ("voice", "sms", "mms")


def _carries(raw: dict[str, Any]) -> bool:
    """Whether the pool's numbers carry every service the family's ``services`` filter
    asks for (``voice,sms``): they carry voice only, so asking for more matches none."""
    value = raw.get("services")
    if coerce.is_unset(value):
        return True
    parts = [s for s in str(value).split(",") if s.strip()]
    asked = [coerce.choice("services", s, SERVICES, upper=False) for s in parts]
    return set(asked) <= {"voice"}


def _number_fields(raw: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "alias" in raw:
        values["alias"] = coerce.text("alias", raw.get("alias"))
    if "app_id" in raw:
        values["app_id"] = coerce.text("app_id", raw.get("app_id"), 64)
    if "answer_url" in raw:
        values["answer_url"] = coerce.url("answer_url", raw.get("answer_url"))
    return values


@router.post(BASE, status_code=201, summary="Add numbers to the pool")
async def add_numbers(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    raw = await body(request)
    if coerce.is_unset(raw.get("numbers")) and not coerce.is_unset(raw.get("number")):
        raw["numbers"] = raw["number"]
    if coerce.is_unset(raw.get("numbers")):
        raise errors.missing("numbers")
    items = split_numbers(raw["numbers"])
    fields = _number_fields(raw)
    await vet(request, [("answer_url", fields.get("answer_url"))], play=False)
    store = get_store(request)

    def work() -> list[str]:
        pool = pool_for(store, who, raw)
        return store.numbers.add(
            who.main, items, pool=pool, by_main=who.subaccount is None, **fields
        )

    async def add() -> JSONResponse:
        added = await run_in_threadpool(work)
        return ok({"message": "Numbers added", "numbers": added}, status=201)

    # Adding the same numbers again changes nothing, so keeping the answer after the
    # add (rather than in its transaction) is enough.
    return await answer_once(request, idempotency_of(request, who, raw), add, keep=True)


@router.get(BASE, summary="List the pool")
async def list_numbers(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    raw = query(request)
    limit, offset = parse_paging(raw)
    store = get_store(request)
    state = coerce.choice("state", raw.get("state"), ("in_service", "draining"), upper=False)
    in_service = coerce.boolean("in_service", raw.get("in_service"))
    if in_service is not None:
        state = "in_service" if in_service else "draining"
    # the family's prefix filter: digits with the country code, with or without "+"
    prefix = parse_prefix(raw, "number_startswith")
    kind = coerce.choice("type", raw.get("type"), NUMBER_TYPES, upper=False)
    refuse_unkept(raw, UNKEPT_NUMBER_FILTERS)
    if not _carries(raw):
        return ok(list_page(request, raw, limit, offset, 0, []))

    def work() -> tuple[int, list[dict[str, Any]], dict[int, str]]:
        sub_filter = None
        sub_id = coerce.text("subaccount", raw.get("subaccount"), 20)
        if sub_id:
            sub = store.accounts.by_auth_id(sub_id)
            sub_filter = sub.id if sub and sub.main_id == who.main.id else -1
        filters = NumberFilters(
            subaccount_id=sub_filter,
            country=coerce.text("country", raw.get("country"), 2),
            alias=coerce.text("alias", raw.get("alias")),
            state=state,
            number_contains=coerce.text("number_contains", raw.get("number_contains"), 20),
            number_startswith=prefix,
            number_type=kind,
        )
        total, rows = store.numbers.list(who.main, who.subaccount, filters, limit, offset)
        return total, rows, subaccount_ids(store, who)

    total, rows, subs = await run_in_threadpool(work)
    return ok(list_page(request, raw, limit, offset, total, _views(who, rows, subs)))


@router.get(BASE + "/{number}", summary="Get a number")
async def get_number(
    number: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    store = get_store(request)

    def work() -> tuple[dict[str, Any], dict[int, str]]:
        return store.numbers.get(who.main, who.subaccount, number), subaccount_ids(store, who)

    row, subs = await run_in_threadpool(work)
    return ok(_views(who, [row], subs)[0])


@router.post(BASE + "/{number}", summary="Update a number")
async def update_number(
    number: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    raw = await body(request)
    fields = _number_fields(raw)
    await vet(request, [("answer_url", fields.get("answer_url"))], play=False)
    store = get_store(request)

    def work() -> tuple[dict[str, Any], dict[int, str]]:
        values = dict(fields)
        if "subaccount" in raw and who.subaccount is None:
            pool = pool_for(store, who, raw)
            values["pool_id"] = (pool or who.main).id
        row = store.numbers.update(who.main, who.subaccount, number, values)
        return row, subaccount_ids(store, who)

    async def update() -> JSONResponse:
        row, subs = await run_in_threadpool(work)
        return ok({"message": "Number updated", **_views(who, [row], subs)[0]})

    return await answer_once(request, idempotency_of(request, who, raw), update, keep=True)


@router.delete(BASE + "/{number}", summary="Remove a number (or drain it)")
async def delete_number(
    number: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    raw = await delete_params(request)
    drain = coerce.boolean("drain", raw.get("drain")) or False
    replace = coerce.boolean("replace", raw.get("replace")) or False
    store = get_store(request)

    async def remove() -> JSONResponse:
        state = await run_in_threadpool(
            lambda: store.numbers.remove(
                who.main, who.subaccount, number, drain=drain, replace=replace
            )
        )
        message = "Number removed" if state == "removed" else "Number draining"
        return ok({"message": message, "state": state})

    return await answer_once(request, idempotency_of(request, who, raw), remove, keep=True)
