"""The portal's sessions: in memory only, behind an opaque random id in the cookie.

Nothing about a citizen is written to disk: a restart signs everyone out, which is the price of
keeping no personal data at rest. A session holds the citizen's Civitas token (which the portal
relays, never inspects beyond its introspection), a CSRF token, the chosen language, and what a
ceremony in progress needs (an attempt id, an enrolment id)."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

COOKIE = "__Host-portal"  # __Host-: Secure, path /, no Domain, so no sibling host can set it
MAX_SESSIONS = 10_000  # an anonymous visitor makes one; the oldest go first beyond this


@dataclass
class PortalSession:
    session_id: str
    csrf: str
    language: str | None = None  # None: follow Accept-Language
    last_seen: float = field(default_factory=time.monotonic)
    citizen_id: str = ""
    token: str = ""  # the citizen's Civitas JWT, relayed as their proof
    civitas_session_id: str = ""
    acr: str = ""
    wants_acr: str = ""  # a page asked for a step-up to this level
    next_path: str = "/history"
    attempt_id: str = ""  # a passkey sign-in in progress
    totp_authenticator_id: str = ""
    registration_id: str = ""  # a passkey registration in progress
    flash: str = ""  # one message for the next page
    token_renewed_at: float = 0.0  # monotonic seconds of the sign-in or the last refresh
    # One refresh at a time: a second refresh with the token the first replaced would be taken
    # for a stolen token, and Civitas would end the whole session (TOKEN_ROTATED).
    refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def signed_in(self) -> bool:
        return bool(self.token)

    def sign_out(self) -> None:
        self.citizen_id = self.token = self.civitas_session_id = self.acr = ""
        self.attempt_id = self.totp_authenticator_id = ""
        self.registration_id = ""
        self.csrf = secrets.token_urlsafe(32)  # a form from before is no good after

    def csrf_ok(self, presented: str) -> bool:
        return hmac.compare_digest(self.csrf.encode(), presented.encode())


class SessionStore:
    """Sessions by id, forgotten after `idle_seconds` without a request."""

    def __init__(self, idle_seconds: float) -> None:
        self._idle = idle_seconds
        self._sessions: dict[str, PortalSession] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str) -> PortalSession | None:
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_seen > self._idle:
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def new(self) -> PortalSession:
        session = PortalSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
                del self._sessions[oldest.session_id]
            self._sessions[session.session_id] = session
        return session

    def renew(self, session: PortalSession) -> PortalSession:
        """The same session under a new id: at sign-in, so an id fixed before cannot follow."""
        with self._lock:
            self._sessions.pop(session.session_id, None)
            session.session_id = secrets.token_urlsafe(32)
            self._sessions[session.session_id] = session
        return session

    def __len__(self) -> int:
        return len(self._sessions)
