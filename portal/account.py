"""The citizen's own sign-in methods, changed with their own session as Civitas requires:
an authenticator app (QR code shown), passkeys with labels, recovery codes shown once, and the
sessions they have open. A change their session is too weak for comes back STEP_UP_REQUIRED,
and `for_citizens` sends them to sign in with a second factor first."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlparse

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from portal.civitas_api import Refusal
from portal.i18n import translate
from portal.sessions import PortalSession
from portal.web import (
    for_citizens,
    language_of,
    portal_of,
    session_of,
    takes_form,
)


@for_citizens
async def account_page(request: Request, session: PortalSession) -> Response:
    portal, language = portal_of(request), language_of(request)
    sessions = await portal.api.sessions(session.citizen_id, session.token, language)
    open_sessions = [s for s in sessions if not s.revoked]
    return portal.render(request, "account.html", sessions=open_sessions, errors={})


@for_citizens
@takes_form
async def begin_totp(request: Request, form: dict[str, str], session: PortalSession) -> Response:
    portal, language = portal_of(request), language_of(request)
    enrolment = await portal.api.begin_totp(session.citizen_id, session.token, language)
    session.totp_authenticator_id = enrolment.authenticator_id
    return _totp_page(request, enrolment.provisioning_uri, enrolment.qr_png, error="")


def _totp_page(request: Request, uri: str, png: bytes, error: str) -> Response:
    secret = parse_qs(urlparse(uri).query).get("secret", [""])[0]
    # Grouped in fours, as people type it into an app by hand.
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return portal_of(request).render(
        request,
        "totp.html",
        status_code=400 if error else 200,
        qr=base64.b64encode(png).decode(),
        secret=grouped,
        error=error,
    )


@for_citizens
@takes_form
async def confirm_totp(request: Request, form: dict[str, str], session: PortalSession) -> Response:
    portal, language = portal_of(request), language_of(request)
    code = form.get("code", "").strip()
    try:
        await portal.api.confirm_totp(
            session.citizen_id, session.token, session.totp_authenticator_id, code, language
        )
    except Refusal as refused:
        if refused.code.name in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            raise
        # Show the same QR again: a new enrolment would change the secret under their app.
        enrolment = await portal.api.begin_totp(session.citizen_id, session.token, language)
        session.totp_authenticator_id = enrolment.authenticator_id
        return _totp_page(request, enrolment.provisioning_uri, enrolment.qr_png, refused.message)
    session.totp_authenticator_id = ""
    session.flash = translate(language, "totp_done")
    return RedirectResponse("/account", status_code=303)


@for_citizens
async def begin_passkey(request: Request, session: PortalSession) -> Response:
    if not session.csrf_ok(request.headers.get("x-csrf-token", "")):
        return JSONResponse({"error": "csrf"}, status_code=403)
    label = str((await request.json()).get("label", ""))[:64].strip() or "passkey"
    options = await portal_of(request).api.begin_passkey(
        session.citizen_id, session.token, label, language_of(request)
    )
    session.registration_id = options.registration_id
    return JSONResponse({"options": json.loads(options.options_json)})


@for_citizens
@takes_form
async def complete_passkey(
    request: Request, form: dict[str, str], session: PortalSession
) -> Response:
    portal, language = portal_of(request), language_of(request)
    try:
        await portal.api.complete_passkey(
            session.citizen_id,
            session.token,
            session.registration_id,
            form.get("credential", ""),
            language,
        )
        session.flash = translate(language, "passkey_done")
    except Refusal as refused:
        if refused.code.name == "UNAUTHENTICATED":
            raise
        session.flash = refused.message or translate(language, "passkey_failed")
    session.registration_id = ""
    return RedirectResponse("/account", status_code=303)


@for_citizens
@takes_form
async def recovery_codes(
    request: Request, form: dict[str, str], session: PortalSession
) -> Response:
    portal = portal_of(request)
    codes = await portal.api.issue_recovery_codes(
        session.citizen_id, session.token, language_of(request)
    )
    return portal.render(request, "recovery_codes.html", codes=codes)  # shown once, kept never


@for_citizens
@takes_form
async def end_session(request: Request, form: dict[str, str], session: PortalSession) -> Response:
    target = request.path_params["session"]
    await portal_of(request).api.revoke_session(
        target, "ended by the citizen", session.token, language_of(request)
    )
    if target == session.civitas_session_id:
        session_of(request).sign_out()
        return RedirectResponse("/sign-in", status_code=303)
    return RedirectResponse("/account", status_code=303)
