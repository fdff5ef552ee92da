"""The citizen's history: the timeline with filters and paging, its live updates (server-sent
events fed by WatchMyHistory), receipts to download or verify, the whole history as a zip, and
"this wasn't me"."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from portal.civitas_api import Refusal
from portal.i18n import translate
from portal.sessions import PortalSession
from portal.timeline import KIND_FILTERS, csv_row, line
from portal.web import (
    for_citizens,
    language_of,
    portal_of,
    session_of,
    takes_form,
)

PAGE_SIZE = 25
KEEPALIVE_SECONDS = 15.0  # a comment line, so proxies keep an idle event stream open


def _day(text: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    except ValueError:
        return None


@for_citizens
async def history_page(request: Request, session: PortalSession) -> Response:
    portal, language = portal_of(request), language_of(request)
    query = request.query_params
    kind = query.get("kind", "all")
    kind = kind if kind in KIND_FILTERS else "all"
    since, until = query.get("since", ""), query.get("until", "")
    page = await portal.api.history_page(
        session.token,
        language,
        kinds=KIND_FILTERS[kind],
        since=_day(since),
        until=_day(until),
        page_size=PAGE_SIZE,
        page_token=query.get("page", ""),
    )
    lines = [line(item, language) for item in page.items]
    # Live updates only where new items belong: the unfiltered last page.
    live = kind == "all" and not since and not until and not page.next_page_token
    last = max((item.position for item in page.items), default=0)
    filters = {"kind": kind, "since": since, "until": until}
    return portal.render(
        request,
        "history.html",
        lines=lines,
        kinds=list(KIND_FILTERS),
        filters=filters,
        next_page=page.next_page_token,
        first_page=bool(query.get("page")),
        live=live,
        last_position=last,
    )


@for_citizens
async def live_history(request: Request, session: PortalSession) -> Response:
    """Server-sent events: each new history item as a rendered table row."""
    portal, language = portal_of(request), language_of(request)
    # A reconnecting EventSource says the last item it had (Last-Event-ID): go on from there.
    resumed = request.headers.get("last-event-id") or request.query_params.get("after", "0")
    after = int(resumed) if resumed.isdigit() else 0
    template = portal.templates.get_template("history_row.html")

    async def events() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        items = portal.api.watch(session.token, after, language).__aiter__()
        while True:
            try:
                item = await asyncio.wait_for(items.__anext__(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": still here\n\n"
                continue
            except (StopAsyncIteration, Refusal):
                # The watch ends with the token that opened it (renewed, or the session over):
                # the browser reconnects with the current one, or is sent to sign in.
                return
            row = template.render(
                item=line(item, language),
                t=lambda key, **values: translate(language, key, **values),
                csrf=session.csrf,
            )
            payload = json.dumps({"position": item.position, "row": row})
            yield f"id: {item.position}\ndata: {payload}\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )


def _entry(request: Request) -> tuple[str, int]:
    return request.path_params["stream"], int(request.path_params["version"])


@for_citizens
async def receipt_file(request: Request, session: PortalSession) -> Response:
    stream, version = _entry(request)
    try:
        receipt = await portal_of(request).api.receipt(
            session.token, stream, version, language_of(request)
        )
    except Refusal as refused:
        if refused.reason == "NOT_YET_SEQUENCED":
            return Response(refused.message, status_code=503, headers={"Retry-After": "1"})
        if refused.code.name in ("NOT_FOUND", "PERMISSION_DENIED", "INVALID_ARGUMENT"):
            return Response(refused.message, status_code=404)
        raise
    name = f"receipt-{stream}-{version}.json"
    return Response(
        receipt,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@for_citizens
async def verify_page(request: Request, session: PortalSession) -> Response:
    stream, version = _entry(request)
    portal = portal_of(request)
    return portal.render(
        request,
        "verify.html",
        stream=stream,
        version=version,
        checkpoint_key=portal.config.checkpoint_key,
        witness_keys=portal.config.witness_keys,
    )


@for_citizens
@takes_form
async def not_me(request: Request, form: dict[str, str], session: PortalSession) -> Response:
    """ "This wasn't me": every session of the citizen ends, each revocation recorded in the
    ledger with the event the citizen disowned as its reason (sealed with their key). Civitas
    has no separate "disavow" call; the revocations are the record (docs/portal.md)."""
    portal, language = portal_of(request), language_of(request)
    disowned = f"{form.get('stream', '')[:64]}/{form.get('version', '')[:12]}"
    reason = f"citizen reported: this wasn't me ({disowned})"
    sessions = await portal.api.sessions(session.citizen_id, session.token, language)
    mine = session.civitas_session_id
    for other in sorted(sessions, key=lambda s: s.session_id == mine):  # our own one last
        if not other.revoked:
            await portal.api.revoke_session(other.session_id, reason, session.token, language)
    session.sign_out()
    return portal.render(request, "not_me.html")


@for_citizens
async def download_all(request: Request, session: PortalSession) -> Response:
    """Every item as CSV, with each item's receipt where a checkpoint covers it already."""
    portal, language = portal_of(request), language_of(request)
    buffer = io.BytesIO()
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["position", "at", "kind", "type", "what", "stream", "version"])
    page_token = ""
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        while True:
            page = await portal.api.history_page(
                session.token, language, page_size=500, page_token=page_token
            )
            for item in page.items:
                writer.writerow(csv_row(item, language))
                try:
                    receipt = await portal.api.receipt(
                        session.token, item.stream, item.version, language
                    )
                except Refusal:
                    continue  # not yet in a checkpoint: the CSV still lists it
                archive.writestr(f"receipts/{item.stream}-{item.version}.json", receipt)
            page_token = page.next_page_token
            if not page_token:
                break
        archive.writestr("history.csv", table.getvalue())
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="my-civitas-history.zip"'},
    )


@for_citizens
async def case_page(request: Request, session: PortalSession) -> Response:
    portal, language = portal_of(request), language_of(request)
    try:
        case = await portal.api.case(session.token, request.path_params["case"], language)
    except Refusal as refused:
        if refused.code.name in ("NOT_FOUND", "PERMISSION_DENIED", "INVALID_ARGUMENT"):
            return portal.render(request, "not_found.html", status_code=404)
        raise
    return portal.render(request, "case.html", case=case, errors={})


@for_citizens
@takes_form
async def case_action(request: Request, form: dict[str, str], session: PortalSession) -> Response:
    portal, language = portal_of(request), language_of(request)
    case_id, action = request.path_params["case"], request.path_params["action"]
    text = form.get("text", "").strip()
    field = "withdraw" if action == "withdraw" else "information"
    if not text:
        errors = {field: translate(language, "field_required")}
    else:
        try:
            if action == "withdraw":
                await portal.api.withdraw(session.token, case_id, text, language)
            else:
                await portal.api.provide_information(session.token, case_id, text, language)
            session_of(request).flash = translate(language, "case_updated")
            return RedirectResponse(f"/cases/{case_id}", status_code=303)
        except Refusal as refused:
            if refused.code.name == "UNAUTHENTICATED":
                raise
            errors = {field: refused.message}
    case = await portal.api.case(session.token, case_id, language)
    return portal.render(request, "case.html", status_code=400, case=case, errors=errors)
