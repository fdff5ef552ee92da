"""The portal's routes and its server (uvicorn): `civitas portal` runs `serve`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from portal import account, history, sign_in
from portal.civitas_api import CivitasApi, Refusal
from portal.config import PortalConfig
from portal.web import HERE, Portal, SessionMiddleware, portal_of

log = logging.getLogger("civitas.portal")

ROUTES = [
    Route("/", sign_in.home),
    Route("/sign-in", sign_in.sign_in_page),
    Route("/sign-in/password", sign_in.sign_in_with_password, methods=["POST"]),
    Route("/sign-in/recovery-code", sign_in.sign_in_with_recovery_code, methods=["POST"]),
    Route("/sign-in/passkey/options", sign_in.passkey_options, methods=["POST"]),
    Route("/sign-in/passkey", sign_in.sign_in_with_passkey, methods=["POST"]),
    Route("/activate", sign_in.activate_page),
    Route("/activate", sign_in.activate, methods=["POST"]),
    Route("/sign-out", sign_in.sign_out, methods=["POST"]),
    Route("/language/{code}", sign_in.choose_language),
    Route("/history", history.history_page),
    Route("/history/live", history.live_history),
    Route("/history/download", history.download_all),
    Route("/history/not-me", history.not_me, methods=["POST"]),
    Route("/receipts/{stream}/{version:int}", history.receipt_file),
    Route("/verify/{stream}/{version:int}", history.verify_page),
    Route("/cases/{case}", history.case_page),
    Route("/cases/{case}/{action:str}", history.case_action, methods=["POST"]),
    Route("/account", account.account_page),
    Route("/account/totp", account.begin_totp, methods=["POST"]),
    Route("/account/totp/confirm", account.confirm_totp, methods=["POST"]),
    Route("/account/passkeys/options", account.begin_passkey, methods=["POST"]),
    Route("/account/passkeys", account.complete_passkey, methods=["POST"]),
    Route("/account/recovery-codes", account.recovery_codes, methods=["POST"]),
    Route("/account/sessions/{session}/end", account.end_session, methods=["POST"]),
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]


async def _not_found(request: Request, exc: Exception) -> Response:
    return portal_of(request).render(request, "not_found.html", status_code=404)


async def _refused(request: Request, exc: Exception) -> Response:
    """A refusal no page expected (Civitas down, a limit): say so plainly, log only its kind."""
    assert isinstance(exc, Refusal)
    log.warning("civitas refused a call: %s %s", exc.code.name, exc.reason)
    return portal_of(request).render(request, "unavailable.html", status_code=503)


def create_app(config: PortalConfig, api: CivitasApi | None = None) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The gRPC channel belongs to the server's event loop: made here, closed here.
        portal = Portal(config, api or CivitasApi(config))
        app.state.portal = portal
        yield
        await portal.api.close()

    return Starlette(
        routes=ROUTES,
        middleware=[Middleware(SessionMiddleware)],
        exception_handlers={404: _not_found, Refusal: _refused},
        lifespan=lifespan,
    )


def serve(config: PortalConfig) -> None:
    """Run until interrupted. No access log: paths name the citizen's entries, and form bodies
    (passwords, codes) are never logged by anything here."""
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        access_log=False,
        log_level="info",
        ssl_certfile=str(config.https_cert) if config.https_cert else None,
        ssl_keyfile=str(config.https_key) if config.https_key else None,
        server_header=False,
        proxy_headers=False,
    )
