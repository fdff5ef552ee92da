"""Signing in (passkey, password with an authenticator code, recovery code), activating an
account with the registrar's code, signing out and choosing a language.

The portal relays what the citizen typed to Civitas in one call and keeps none of it: not in
the session, not in a log (tests/portal/test_portal_units.py)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from portal.civitas_api import Refusal
from portal.i18n import LANGUAGES, translate
from portal.web import (
    language_of,
    portal_of,
    safe_path,
    session_of,
    takes_form,
)
from protos.civitas.v1 import identity_pb2 as ipb


def client_context(request: Request) -> ipb.ClientContext:
    """What the citizen's history shows about where a sign-in came from."""
    address = request.client.host if request.client else ""
    return ipb.ClientContext(
        address=address, user_agent=request.headers.get("user-agent", "")[:256]
    )


async def sign_in_page(request: Request) -> Response:
    session = session_of(request)
    if session.signed_in and not session.wants_acr:
        return RedirectResponse(session.next_path, status_code=303)
    return portal_of(request).render(request, "sign_in.html", errors={}, values={})


async def _finish(request: Request, result: ipb.AuthenticationResult) -> Response:
    """The citizen is in: keep their token, a new session id, and go where they were going."""
    portal = portal_of(request)
    session = session_of(request)
    found = await portal.api.introspect(result.token, language_of(request))
    portal.sessions.renew(session)  # no id from before the sign-in lives on (fixation)
    session.citizen_id = found.citizen_id
    session.token = result.token
    session.civitas_session_id = result.session_id
    session.acr = result.acr
    session.token_renewed_at = time.monotonic()
    session.wants_acr = ""
    session.attempt_id = ""
    target, session.next_path = session.next_path, "/history"
    return RedirectResponse(safe_path(target), status_code=303)


def _citizen_id_error(value: str, language: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        return translate(language, "citizen_id_hint")
    return ""


async def sign_in_with_password(request: Request) -> Response:
    return await _sign_in_with_secret(request, "password")


async def sign_in_with_recovery_code(request: Request) -> Response:
    return await _sign_in_with_secret(request, "recovery_code")


@takes_form
async def _sign_in_with_secret(request: Request, form: dict[str, str], kind: str) -> Response:
    portal, session, language = portal_of(request), session_of(request), language_of(request)
    citizen_id = form.get("citizen_id", "").strip()
    errors: dict[str, str] = {}
    if error := _citizen_id_error(citizen_id, language):
        errors[f"{kind}-citizen_id"] = error
    secret_field = "password" if kind == "password" else "recovery_code"
    if not form.get(secret_field):
        errors[secret_field] = translate(language, "field_required")
    if not errors:
        try:
            challenge = await portal.api.begin_sign_in(
                citizen_id, session.wants_acr, client_context(request), language
            )
            complete = ipb.CompleteAuthenticationRequest(
                attempt_id=challenge.attempt_id, client=client_context(request)
            )
            if kind == "password":
                complete.password = form.get("password", "")
                complete.totp_code = form.get("totp_code", "").strip()
            else:
                complete.recovery_code = form.get("recovery_code", "").strip()
            return await _finish(request, await portal.api.complete_sign_in(complete, language))
        except Refusal as refused:
            errors[secret_field] = refused.message
    values = {f"{kind}-citizen_id": citizen_id}  # never the secret back into the page
    return portal.render(request, "sign_in.html", status_code=400, errors=errors, values=values)


async def passkey_options(request: Request) -> Response:
    """A username-less passkey attempt: the options for the page's `navigator.credentials.get`."""
    session = session_of(request)
    if not session.csrf_ok(request.headers.get("x-csrf-token", "")):
        return JSONResponse({"error": "csrf"}, status_code=403)
    language = language_of(request)
    try:
        challenge = await portal_of(request).api.begin_sign_in(
            "", session.wants_acr, client_context(request), language
        )
    except Refusal as refused:
        return JSONResponse({"error": refused.message}, status_code=400)
    session.attempt_id = challenge.attempt_id
    return JSONResponse({"options": json.loads(challenge.passkey_options_json)})


@takes_form
async def sign_in_with_passkey(request: Request, form: dict[str, str]) -> Response:
    portal, session, language = portal_of(request), session_of(request), language_of(request)
    complete = ipb.CompleteAuthenticationRequest(
        attempt_id=session.attempt_id,
        passkey_assertion_json=form.get("assertion", ""),
        client=client_context(request),
    )
    errors = {"passkey": translate(language, "passkey_failed")}
    if session.attempt_id:
        try:
            return await _finish(request, await portal.api.complete_sign_in(complete, language))
        except Refusal as refused:
            errors["passkey"] = refused.message or errors["passkey"]
    session.attempt_id = ""
    return portal.render(request, "sign_in.html", status_code=400, errors=errors, values={})


async def activate_page(request: Request) -> Response:
    return portal_of(request).render(request, "activate.html", errors={}, values={})


@takes_form
async def activate(request: Request, form: dict[str, str]) -> Response:
    portal, session, language = portal_of(request), session_of(request), language_of(request)
    citizen_id = form.get("citizen_id", "").strip()
    errors: dict[str, str] = {}
    if error := _citizen_id_error(citizen_id, language):
        errors["citizen_id"] = error
    for name in ("activation_code", "password"):
        if not form.get(name):
            errors[name] = translate(language, "field_required")
    if not errors:
        try:
            await portal.api.set_password(
                citizen_id, form["password"], form["activation_code"].strip(), language
            )
            session.flash = translate(language, "activated")
            return RedirectResponse("/sign-in", status_code=303)
        except Refusal as refused:
            errors["activation_code"] = refused.message
    return portal.render(
        request,
        "activate.html",
        status_code=400,
        errors=errors,
        values={"citizen_id": citizen_id},
    )


@takes_form
async def sign_out(request: Request, form: dict[str, str]) -> Response:
    portal, session = portal_of(request), session_of(request)
    if session.signed_in:
        # Already ended (revoked elsewhere, idle) is fine: signing out here is what matters.
        with contextlib.suppress(Refusal):  # the citizen's own proof ends only their session
            await portal.api.revoke_session(
                session.civitas_session_id, "signed out", session.token, language_of(request)
            )
    session.sign_out()
    return RedirectResponse("/sign-in", status_code=303)


async def choose_language(request: Request) -> Response:
    code = request.path_params["code"]
    if code in LANGUAGES:
        session_of(request).language = code
    return RedirectResponse(safe_path(request.query_params.get("back", "/")), status_code=303)


async def home(request: Request) -> Response:
    target = "/history" if session_of(request).signed_in else "/sign-in"
    return RedirectResponse(target, status_code=303)
