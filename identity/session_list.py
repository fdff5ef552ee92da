"""`ListSessions`, page by page: a citizen's active sessions, newest first.

Only the sessions of the citizen's most recent sign-ins are looked at (`citizen.RECENT_SESSIONS`,
far more than can be active at once), so a page costs the same after years of sign-ins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from identity.session import Session
from ledger.errors import InvalidInput

DEFAULT_PAGE = 20
MAX_PAGE = 64


@dataclass(frozen=True)
class SessionPage:
    sessions: list[Session]
    next_page_token: str  # "" on the last page


def active_page(
    session_ids: Sequence[str],
    load: Callable[[str], Session],
    now: datetime,
    page_size: int,
    page_token: str,
) -> SessionPage:
    """The active sessions among *session_ids* (oldest first, as the citizen records them),
    newest first, after the session named by *page_token*."""
    size = page_size or DEFAULT_PAGE
    if not 0 < size <= MAX_PAGE:
        raise InvalidInput.of("page_size", f"between 1 and {MAX_PAGE}")
    newest_first = list(reversed(session_ids))
    start = 0
    if page_token:
        if page_token not in newest_first:
            raise InvalidInput.of(
                "page_token", "not a token this service gave", reason="INVALID_PAGE_TOKEN"
            )
        start = newest_first.index(page_token) + 1
    page: list[Session] = []
    for position in range(start, len(newest_first)):
        session = load(newest_first[position])
        if session.refusal(session.token_id, now) is not None:
            continue  # revoked, expired or idle: no longer a session the citizen has
        if len(page) == size:
            # One more active session exists: the page ends at the last one returned.
            return SessionPage(page, str(page[-1].id))
        page.append(session)
    return SessionPage(page, "")
