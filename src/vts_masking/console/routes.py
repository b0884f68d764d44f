"""The console's pages and actions under ``/console`` (see docs/console.md).

Every page resolves its :class:`~.auth.Viewer` first, then calls the same store
operations the API calls, with the same :class:`~vts_masking.store.Principal`; the rules
for numbers (who may add, drain, move) are the API router's own functions. Reads and
writes run on a worker thread (the store is synchronous). A refusal renders as a page
with the API's message and status; it is never a 500 and never writes half.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from ..api.parsing import body_params, query_params
from ..api.routers.numbers import pool_for, split_numbers, subaccount_ids
from ..domain import errors
from ..domain.list_filters import RecordingFilters, parse_paging, parse_session_filters
from ..domain.views import event_view, fmt_time
from ..store import Principal, Store
from ..store.deliveries import OutboxRepo
from ..store.numbers import NumberFilters
from . import charts, timeline
from .auth import (
    COOKIE,
    PRE_COOKIE,
    SignInRequired,
    Viewer,
    check_csrf,
    clear_cookie,
    new_signin_token,
    operator_principal,
    set_cookie,
    sign_in,
    viewer,
)
from .render import PREFIX, html, link

T = TypeVar("T")
STATIC = resources.files("vts_masking.console") / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain"}
EVENT_TABS = {"failed": ("failed",), "pending": ("pending", "delivering")}
NOTICES = {
    "added": "Numbers added.",
    "removed": "Number removed.",
    "draining": "Number draining: it takes no new sessions and goes when its last one ends.",
    "moved": "Number moved.",
    "replaced": "Number removed: its live sessions moved to other numbers of their pool.",
}
LOGIN_SECONDS = 12 * 3600


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _login_redirect(request: Request) -> Response:
    target = PREFIX + "/login"
    if request.method == "GET" and request.url.path.startswith(PREFIX + "/"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?" + urlencode({"next": here})
    if _is_htmx(request):  # a poll after sign-out: htmx sends the whole page there
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def error_page(request: Request, status: int, message: str) -> Response:
    context = {"viewer": None, "status": status, "message": message, "title": "Refused"}
    if _is_htmx(request):
        return html("_error.html", context, status=status)
    return html("error.html", context, status=status)


class ConsoleRoute(APIRoute):
    """Console refusals are pages (the API's are JSON): ApiError → error page with its
    status and message; no live login → the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return _login_redirect(request)
            except errors.ApiError as exc:
                return error_page(request, exc.status, exc.message)

        return route


router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def _store(request: Request) -> Store:
    return request.app.state.store


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await run_in_threadpool(fn, *args)


async def _form(request: Request, v: Viewer) -> dict[str, Any]:
    form = await body_params(request)
    check_csrf(request, v.csrf, form)
    return form


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _page(v: Viewer, template: str, title: str, **context: Any) -> Response:
    return html(template, {"viewer": v, "title": title, **context})


def _safe_next(target: Any) -> str:
    """Only a console path of this site (no ``//host``, no scheme) is a place to go."""
    if (
        isinstance(target, str)
        and re.fullmatch(r"/console/[A-Za-z0-9_\-/?=&%.+:]*", target)
        and "//" not in target
        and "/login" not in target
    ):
        return target
    return PREFIX + "/dashboard"


# -- sign-in ---------------------------------------------------------------------------


@router.get("")
async def home(request: Request) -> Response:
    store = _store(request)
    token = request.cookies.get(COOKIE, "")
    login = await _in_thread(store.console.login, token) if token else None
    return RedirectResponse(PREFIX + ("/dashboard" if login else "/login"), status_code=303)


def _login_form(
    request: Request, *, error: str | None = None, status: int = 200, next_: str = ""
) -> Response:
    token = new_signin_token()
    response = html(
        "login.html",
        {"viewer": None, "title": "Sign in", "csrf": token, "error": error, "next": next_},
        status=status,
    )
    set_cookie(request, response, PRE_COOKIE, token, max_age=3600)
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    return _login_form(request, next_=str(query_params(request).get("next") or ""))


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await body_params(request)
    check_csrf(request, request.cookies.get(PRE_COOKIE, ""), form)
    auth_id, token = _text(form, "auth_id"), form.get("auth_token")
    if not auth_id or not isinstance(token, str) or not token:
        return _login_form(request, error="Enter an Auth ID and its Auth Token.", status=400)
    cookie = await _in_thread(sign_in, _store(request), auth_id, token)
    if cookie is None:
        return _login_form(
            request, error="Authentication failed.", status=401, next_=_text(form, "next")
        )
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    set_cookie(request, response, COOKIE, cookie, max_age=LOGIN_SECONDS)
    clear_cookie(request, response, PRE_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    store = _store(request)
    v = await _in_thread(viewer, request, store)
    await _form(request, v)
    await _in_thread(store.console.close_login, request.cookies.get(COOKIE, ""))
    response = RedirectResponse(PREFIX + "/login", status_code=303)
    clear_cookie(request, response, COOKIE)
    return response


# -- dashboard -------------------------------------------------------------------------


def _live_context(store: Store, v: Viewer) -> dict[str, Any]:
    legs = store.stats.calls_in_progress(v.acting)
    return {"legs": legs, "calls": len({leg["interaction_id"] for leg in legs})}


@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    store = _store(request)

    def work() -> Response:
        v = viewer(request, store)
        board = store.stats.dashboard(v.acting)
        hours = charts.column_chart(
            [(h.strftime("%H:00"), n) for h, n in board.calls_per_hour],
            title="Calls per hour, last 24 hours (UTC)",
        )
        pools = charts.stacked_bars(
            [
                charts.Stack(
                    p.auth_id if p.is_main else f"{p.name} ({p.auth_id})",
                    (
                        ("in_use", p.in_use),
                        ("free", p.in_service - p.in_use),
                        ("draining", p.draining),
                    ),
                )
                for p in board.pools
            ],
            title="Pool utilisation: numbers in use, free and draining per pool",
        )
        accounts = store.stats.main_accounts() if v.is_operator else []
        return _page(
            v,
            "dashboard.html",
            "Dashboard",
            board=board,
            hours_chart=hours,
            pools_chart=pools,
            accounts=accounts,
            **_live_context(store, v),
        )

    return await _in_thread(work)


@router.get("/live")
async def live(request: Request) -> Response:
    """The calls in progress (the dashboard polls this every two seconds)."""
    store = _store(request)

    def work() -> Response:
        v = viewer(request, store)
        return html("_live.html", {"viewer": v, **_live_context(store, v)})

    return await _in_thread(work)


# -- sessions --------------------------------------------------------------------------


def _choose_account(v: Viewer, store: Store, title: str) -> Response:
    return _page(v, "choose.html", title, accounts=store.stats.main_accounts())


@router.get("/sessions")
async def sessions_list(request: Request) -> Response:
    store = _store(request)

    def work() -> Response:
        v = viewer(request, store)
        if v.acting is None:
            return _choose_account(v, store, "Sessions")
        raw = {
            k: val
            for k, val in query_params(request).items()
            if k != "account" and isinstance(val, str) and val.strip()
        }
        error, total, objects, filters = None, 0, [], None
        try:
            filters = parse_session_filters(raw)
            total, objects = store.sessions.list(v.acting, filters)
        except errors.ApiError as exc:
            error = exc.message
        pages = {}
        if filters is not None:
            echo = {k: val for k, val in raw.items() if k not in ("limit", "offset")}
            if filters.offset + filters.limit < total:
                pages["next"] = link(v, "/sessions", **echo, offset=filters.offset + filters.limit)
            if filters.offset > 0:
                pages["previous"] = link(
                    v, "/sessions", **echo, offset=max(0, filters.offset - filters.limit)
                )
        subs = []
        if v.acting.subaccount is None:
            subs = store.accounts.list_subaccounts(v.acting.main, 500, 0)[1]
        response = _page(
            v,
            "sessions.html",
            "Sessions",
            q=raw,
            error=error,
            total=total,
            sessions=objects,
            pages=pages,
            offset=filters.offset if filters else 0,
            subaccounts=subs,
        )
        if error:
            response.status_code = 400
        return response

    return await _in_thread(work)


def _tenant_of_session(store: Store, v: Viewer, session_uuid: str) -> Principal:
    if not v.is_operator:
        return v.tenant()
    who = operator_principal(store, store.stats.session_account(session_uuid))
    if who is None:
        raise errors.NotFound(errors.SESSION_NOT_FOUND)
    return who


@router.get("/sessions/{session_uuid}")
async def session_page(session_uuid: str, request: Request) -> Response:
    store = _store(request)

    def work() -> Response:
        v = viewer(request, store)
        who = _tenant_of_session(store, v, session_uuid)
        view = store.sessions.get(who, session_uuid)  # 404 for another tenant's
        legs = store.stats.session_legs(who, session_uuid)
        rows = store.sessions.events(who, session_uuid)
        attempts = store.stats.session_attempts(who, session_uuid)
        _, recordings = store.calls.list_recordings(
            who, RecordingFilters(session_uuid=session_uuid)
        )
        events = [event_view(r, with_params=True) for r in rows]
        for event in events:
            event["attempt_log"] = attempts.get(event["id"], [])
        return _page(
            v,
            "session.html",
            f"Session {session_uuid}",
            s=view,
            stories=timeline.stories(view, legs, rows),
            events=events,
            recordings=recordings,
            owner=who.path_auth_id,
        )

    return await _in_thread(work)


@router.get("/recordings/{recording_uuid}/media")
async def recording_media(recording_uuid: str, request: Request) -> Response:
    """The recording's file, after the console's own login and tenant check (the page's
    ``<audio>`` plays this; no public link, no credentials in the page)."""
    store = _store(request)

    def work() -> tuple[Path, str, str]:
        v = viewer(request, store)
        who = (
            operator_principal(store, store.stats.recording_account(recording_uuid))
            if v.is_operator
            else v.tenant()
        )
        if who is None:
            raise errors.NotFound("Recording not found.")
        row = store.calls.get_recording(who, recording_uuid)
        path = Path(row["path"])
        if row["status"] != "completed" or not path.is_file():
            raise errors.NotFound("Recording media not available.")
        return path, row["format"], row["uuid"]

    path, fmt, uuid = await _in_thread(work)
    return FileResponse(
        path,
        media_type="audio/mpeg" if fmt == "mp3" else "audio/wav",
        filename=f"{uuid}.{fmt}",
        content_disposition_type="inline",
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


# -- events ----------------------------------------------------------------------------


def _event_row(store: Store, who: Principal | None, event_id: int) -> dict[str, Any]:
    row = store.stats.event(who, event_id)
    if row is None:
        raise errors.NotFound("Event not found.")
    return _event_view(row)


def _event_view(row: dict[str, Any]) -> dict[str, Any]:
    """The CLI's and the API's event view, with the receiver's last answer."""
    return dict(event_view(_Row(row)), answer=row.get("answer"))


@router.get("/events")
async def events_page(request: Request) -> Response:
    store = _store(request)

    def work() -> Response:
        v = viewer(request, store)
        query = query_params(request)
        tab = query.get("status") or "failed"
        if tab not in EVENT_TABS:
            raise errors.allowed_values("status", tuple(EVENT_TABS))
        limit, offset = parse_paging(
            {k: val for k, val in query.items() if k in ("limit", "offset")}, max_limit=100
        )
        total, rows = store.stats.deliveries(v.acting, EVENT_TABS[tab], limit, offset)
        events = [_event_view(r) for r in rows]
        pages = {}
        if offset + limit < total:
            pages["next"] = link(v, "/events", status=tab, offset=offset + limit, limit=limit)
        if offset > 0:
            pages["previous"] = link(
                v, "/events", status=tab, offset=max(0, offset - limit), limit=limit
            )
        return _page(
            v,
            "events.html",
            "Events",
            tab=tab,
            events=events,
            total=total,
            pages=pages,
            tabs=list(EVENT_TABS),
        )

    return await _in_thread(work)


class _Row:
    """A dict read by attribute, for :func:`event_view` (which takes result rows)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.__dict__.update(data)


def _event_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise errors.NotFound("Event not found.")
    return int(raw)


@router.get("/events/{event_id}/row")
async def event_row(event_id: str, request: Request) -> Response:
    """One event's row (a retried event's row polls this until it is delivered)."""
    store = _store(request)

    def work() -> Response:
        v = viewer(request, store)
        e = _event_row(store, v.acting, _event_id(event_id))
        return html("_event_row.html", {"viewer": v, "e": e})

    return await _in_thread(work)


@router.post("/events/{event_id}/retry")
async def event_retry(event_id: str, request: Request) -> Response:
    """``vts-masking events retry`` from the page: the event is due now (the worker
    sends it at once), if it is the tenant's and failed or still pending."""
    store = _store(request)
    v = await _in_thread(viewer, request, store)
    await _form(request, v)
    number = _event_id(event_id)

    def work() -> dict[str, Any]:
        row = store.stats.event(v.acting, number)
        if row is None:
            raise errors.NotFound("Event not found.")
        if not OutboxRepo(store.db).retry(number):
            raise errors.InvalidParameter(
                f"Event {number} is {row['status']}; only failed or pending events can be retried."
            )
        return _event_row(store, v.acting, number)

    view = await _in_thread(work)
    if _is_htmx(request):
        return html("_event_row.html", {"viewer": v, "e": view})
    return RedirectResponse(link(v, "/events", status="pending"), status_code=303)


# -- numbers ---------------------------------------------------------------------------


@router.get("/numbers")
async def numbers_page(request: Request) -> Response:
    store = _store(request)

    def work() -> Response:
        v = viewer(request, store)
        if v.acting is None:
            return _choose_account(v, store, "Numbers")
        who = v.acting
        query = query_params(request)
        limit, offset = parse_paging(
            {k: val for k, val in query.items() if k in ("limit", "offset")}, max_limit=100
        )
        total, rows = store.numbers.list(who.main, who.subaccount, NumberFilters(), limit, offset)
        subs = subaccount_ids(store, who)
        pools = [("", f"{who.main.name} (main account)")] if who.subaccount is None else []
        if who.subaccount is None:
            pools += [
                (r.auth_id, f"{r.name} ({r.auth_id})")
                for r in store.accounts.list_subaccounts(who.main, 500, 0)[1]
            ]
        pages = {}
        if offset + limit < total:
            pages["next"] = link(v, "/numbers", offset=offset + limit, limit=limit)
        if offset > 0:
            pages["previous"] = link(v, "/numbers", offset=max(0, offset - limit), limit=limit)
        return _page(
            v,
            "numbers.html",
            "Numbers",
            numbers=[dict(r, pool=subs.get(r["pool_id"])) for r in rows],
            total=total,
            pools=pools,
            pages=pages,
            notice=NOTICES.get(str(query.get("notice", ""))),
        )

    return await _in_thread(work)


@router.post("/numbers")
async def numbers_add(request: Request) -> Response:
    store = _store(request)
    v = await _in_thread(viewer, request, store)
    form = await _form(request, v)

    def work() -> None:
        who = v.tenant()
        raw = _text(form, "numbers")
        if not raw:
            raise errors.missing("numbers")
        pool = pool_for(store, who, {"subaccount": _text(form, "subaccount") or None})
        store.numbers.add(who.main, split_numbers(raw), pool=pool, by_main=who.subaccount is None)

    await _in_thread(work)
    return RedirectResponse(link(v, "/numbers", notice="added"), status_code=303)


@router.post("/numbers/{number}/remove")
async def number_remove(number: str, request: Request) -> Response:
    store = _store(request)
    v = await _in_thread(viewer, request, store)
    form = await _form(request, v)
    drain = _text(form, "drain") in ("1", "true", "on")
    replace = _text(form, "replace") in ("1", "true", "on")

    def work() -> str:
        who = v.tenant()
        return store.numbers.remove(
            who.main, who.subaccount, number, drain=drain, replace=replace
        )

    state = await _in_thread(work)
    notice = "replaced" if replace and state == "removed" else state
    return RedirectResponse(link(v, "/numbers", notice=notice), status_code=303)


@router.post("/numbers/{number}/move")
async def number_move(number: str, request: Request) -> Response:
    store = _store(request)
    v = await _in_thread(viewer, request, store)
    form = await _form(request, v)

    def work() -> None:
        who = v.tenant()
        if not v.can_move_numbers:
            raise errors.Forbidden(
                "Forbidden. Only the main account moves numbers between its pools."
            )
        pool = pool_for(store, who, {"subaccount": _text(form, "subaccount") or None})
        store.numbers.update(who.main, None, number, {"pool_id": (pool or who.main).id})

    await _in_thread(work)
    return RedirectResponse(link(v, "/numbers", notice="moved"), status_code=303)


@router.get("/numbers/{number}")
async def number_page(number: str, request: Request) -> Response:
    store = _store(request)

    def work() -> Response:
        v = viewer(request, store)
        who = v.tenant()
        row = store.numbers.get(who.main, who.subaccount, number)
        subs = subaccount_ids(store, who)
        live = store.stats.number_sessions(who, row["id"])
        return _page(
            v,
            "number.html",
            f"Number {row['number']}",
            n=dict(row, pool=subs.get(row["pool_id"]), added=fmt_time(row["added_time"])),
            sessions=live,
        )

    return await _in_thread(work)


# -- assets and the rest -----------------------------------------------------------------


@router.get("/static/{name}")
async def static(name: str) -> Response:
    suffix = Path(name).suffix
    item = STATIC / name
    if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES or not item.is_file():
        raise errors.NotFound("Resource not found.")
    return Response(
        item.read_bytes(),
        media_type=STATIC_TYPES[suffix],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.api_route("/{rest:path}", methods=["GET", "POST"])
async def not_found(rest: str, request: Request) -> Response:
    return error_page(request, 404, "Page not found.")


__all__ = ["router"]
