"""What every page shares: the session cookie, CSRF, language, security headers, templates."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from functools import partial
from pathlib import Path
from typing import Any, Concatenate, ParamSpec

import jinja2
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from portal.civitas_api import CivitasApi, Refusal
from portal.config import PortalConfig
from portal.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    choose_language,
    format_datetime,
    format_number,
    translate,
)
from portal.sessions import COOKIE, PortalSession, SessionStore
from protos.civitas.v1 import identity_pb2 as ipb

HERE = Path(__file__).parent
Rest = ParamSpec("Rest")  # what a form handler takes after the request and the form
# No inline script or style anywhere: scripts and styles are files from this origin; the TOTP
# QR code is a data: image; forms post only here; no page may be framed (clickjacking).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# Reasons that mean the citizen's Civitas session is gone: sign in again.
SESSION_GONE = {
    "CITIZEN_TOKEN_REFUSED",
    "SESSION_REVOKED",
    "SESSION_EXPIRED",
    "SESSION_IDLE",
    "TOKEN_INVALID",
    "UNAUTHENTICATED",
}


class Portal:
    """The portal's parts, reached from each request as `request.app.state.portal`."""

    def __init__(self, config: PortalConfig, api: CivitasApi) -> None:
        self.config = config
        self.api = api
        self.sessions = SessionStore(config.session_minutes * 60.0)
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True
        )
        self.templates = Jinja2Templates(env=environment)

    def render(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> Response:
        session = session_of(request)
        language = language_of(request)
        flash, session.flash = session.flash, ""
        values = {
            "t": partial(translate, language),
            "when": partial(format_datetime, language=language),
            "number": partial(format_number, language=language),
            "lang": language,
            "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            "session": session,
            "csrf": session.csrf,
            "path": request.url.path,
            "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
            "flash": flash,
            "utc": UTC,
            **context,
        }
        response: Response = self.templates.TemplateResponse(
            request, name, values, status_code=status_code
        )
        return response


def portal_of(request: Request) -> Portal:
    portal = request.app.state.portal
    assert isinstance(portal, Portal)
    return portal


def session_of(request: Request) -> PortalSession:
    session = request.state.session
    assert isinstance(session, PortalSession)
    return session


def language_of(request: Request) -> str:
    chosen = session_of(request).language
    return chosen or choose_language(request.headers.get("accept-language", ""))


def safe_path(path: str, default: str = "/history") -> str:
    """A path on this site only: no scheme, no host, no `//` (an open redirect otherwise)."""
    # Browsers drop tabs and newlines from a URL ("/\t/evil" is "//evil") and read "\" as "/".
    unsafe = "\\" in path or any(c.isspace() or not c.isprintable() for c in path)
    if path.startswith("/") and not path.startswith("//") and not unsafe:
        return path
    return default


class SessionMiddleware(BaseHTTPMiddleware):
    """Loads the session named by the cookie (a new one if none), then sets the cookie again
    if its id changed, and adds the security headers to every response."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        portal = portal_of(request)
        presented = request.cookies.get(COOKIE, "")
        session = portal.sessions.get(presented) if presented else None
        if session is None:
            session = portal.sessions.new()
        request.state.session = session
        response = await call_next(request)
        if session.session_id != presented:
            response.set_cookie(
                COOKIE,
                session.session_id,
                httponly=True,
                secure=True,
                samesite="strict",
                path="/",
            )
        response.headers.update(SECURITY_HEADERS)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"  # a shared computer's back button
        return response


async def checked_form(request: Request) -> dict[str, str] | None:
    """The posted form's text fields, or None when its CSRF token is not this session's."""
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    if not session_of(request).csrf_ok(values.get("csrf", "")):
        return None
    return values


def csrf_refused(request: Request) -> Response:
    return portal_of(request).render(request, "expired.html", status_code=403)


def takes_form(
    handler: Callable[Concatenate[Request, dict[str, str], Rest], Awaitable[Response]],
) -> Callable[Concatenate[Request, Rest], Awaitable[Response]]:
    """A handler of a posted form, given the form's text fields; a form whose CSRF token is not
    this session's gets the expired page and the handler never runs."""

    async def checked(request: Request, /, *args: Rest.args, **kwargs: Rest.kwargs) -> Response:
        form = await checked_form(request)
        if form is None:
            return csrf_refused(request)
        return await handler(request, form, *args, **kwargs)

    return checked


def sign_in_again(request: Request, *, step_up: bool = False) -> Response:
    """Back to the sign-in page, coming back here after (the page asked for AAL2 if step_up)."""
    session = session_of(request)
    if request.method != "GET":
        session.next_path = "/account"  # the forms that step up are all on that page
    elif "text/html" in request.headers.get("accept", ""):  # a page, not the live stream
        session.next_path = safe_path(request.url.path)
    if step_up:
        session.wants_acr = "AAL2"
        session.flash = translate(language_of(request), "step_up_needed")
    else:
        session.sign_out()
    return RedirectResponse("/sign-in", status_code=303)


def _session_gone(refused: Refusal) -> bool:
    return refused.reason in SESSION_GONE or refused.code.name == "UNAUTHENTICATED"


async def _keep_alive(request: Request, session: PortalSession) -> None:
    """A citizen using the portal keeps their Civitas session from going idle (its token's
    `exp` is the idle deadline): the token is renewed once it is old enough."""
    renew_after = portal_of(request).config.renew_token_after_seconds
    if time.monotonic() - session.token_renewed_at < renew_after:
        return
    async with session.refresh_lock:
        if time.monotonic() - session.token_renewed_at < renew_after:
            return  # another request renewed it while this one waited
        address = request.client.host if request.client else ""
        client = ipb.ClientContext(
            address=address, user_agent=request.headers.get("user-agent", "")[:256]
        )
        renewed = await portal_of(request).api.refresh(session.token, client, language_of(request))
        session.token = renewed.token
        session.token_renewed_at = time.monotonic()


def for_citizens(
    page: Callable[[Request, PortalSession], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A page only a signed-in citizen sees; a refusal that ends their session, or asks for a
    stronger one, sends them to sign in."""

    async def guarded(request: Request) -> Response:
        session = session_of(request)
        if not session.signed_in:
            if "text/html" in request.headers.get("accept", ""):  # a page, not the live stream
                session.next_path = safe_path(str(request.url.path))
            return RedirectResponse("/sign-in", status_code=303)
        try:
            await _keep_alive(request, session)
            used = session.token
            try:
                return await page(request, session)
            except Refusal as refused:
                if not _session_gone(refused):
                    raise
                # Another request may be renewing the token while this one ran: Civitas has
                # replaced the old one already, the portal learns the new one when the renewal
                # answers. Wait for it before deciding the session is gone.
                if session.refresh_lock.locked():
                    async with session.refresh_lock:
                        pass
                if session.token == used:
                    raise
                # The old token no longer speaks for the session: once more with the new one.
                return await page(request, session)
        except Refusal as refused:
            if refused.reason == "STEP_UP_REQUIRED":
                return sign_in_again(request, step_up=True)
            if _session_gone(refused):
                return sign_in_again(request)
            raise

    return guarded
