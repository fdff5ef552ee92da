"""What a citizen may read of the ledger: their own timeline, receipts, and live updates.

The citizen is always the caller (from their token), never a parameter: asking for someone
else's history cannot even be expressed, and a receipt is only given for an item of one's own.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.audit import AuditLog
from ledger.errors import FieldViolation, InvalidInput, NotAllowed, NotFound, Unavailable
from ledger.log_recorder import MerkleLogRecorder
from ledger.store import LedgerStore
from projections.changes import ChangeFeed
from projections.timeline_view import TimelineItem, TimelineView

KINDS = (
    "sign_in",
    "session",
    "identity",
    "transaction",
    "data_access",
    # Security events, each its own kind (issue 13); they replace the former `authenticator`.
    "factor_added",
    "factor_removed",
    "factor_locked",
    "factor_unlocked",
    "activation",
    "recovery_started",
    "recovery_completed",
    "recovery_cancelled",
    "session_revoked",
)
DEFAULT_PAGE = 50
MAX_PAGE = 500
# A page ends early once its summaries reach this size, whatever page_size asked for (issue 14:
# 500 items of legacy megabyte rows took the server to 1 GiB); the next page goes on from there.
PAGE_BUDGET_BYTES = 1024 * 1024
WATCH_BATCH = 100  # items a watch reads at a time: each is sent as soon as it is read
# Positions and versions are signed 64-bit integers in both databases; a larger number from the
# wire (the protos say uint64) names nothing and must be refused before it reaches a query.
MAX_POSITION = 2**63 - 1
# With SQLite, how often the one probe asks whether the timeline grew (PostgreSQL notifies).
WATCH_POLL_SECONDS = 0.1
# ...and, when it did, how many new rows it reads to learn whose timelines grew: past that,
# every watch wakes (a burst that large wakes most of them anyway).
WATCH_PROBE_MOST_ROWS = 1000


# (citizen id, an item's summary) -> the summary with the values sealed for them opened: the
# identity side's `CitizenFields.opened_summary`, passed in by the composition root.
SummaryOpener = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Page:
    items: list[TimelineItem]
    next_page_token: str


class History:
    def __init__(
        self,
        timeline: TimelineView,
        audit: AuditLog,
        log: MerkleLogRecorder,
        store: LedgerStore,
        changes: ChangeFeed,
        opened: SummaryOpener = lambda citizen_id, summary: summary,
    ) -> None:
        self._timeline = timeline
        self._opened = opened
        self._changes = changes
        self._audit = audit
        self._log = log
        self._store = store

    def list(
        self,
        citizen_id: str,
        kinds: Sequence[str],
        since: datetime | None,
        until: datetime | None,
        page_size: int,
        page_token: str,
    ) -> Page:
        _check_kinds(kinds)
        size = page_size or DEFAULT_PAGE
        if not 0 < size <= MAX_PAGE:
            raise InvalidInput.of("page_size", f"between 1 and {MAX_PAGE}")
        items = self._timeline.items(
            citizen_id,
            after_position=_position_of(page_token),
            kinds=kinds,
            since=since,
            until=until,
            limit=size + 1,
        )
        shown = within_budget([self._shown(item) for item in items[:size]], PAGE_BUDGET_BYTES)
        more = len(items) > len(shown)
        token = _token(shown[-1].position) if more else ""
        return Page(shown, token)

    def _shown(self, item: TimelineItem) -> TimelineItem:
        """The item as its citizen reads it: the values sealed for them opened."""
        return replace(item, summary=self._opened(item.citizen_id, item.summary))

    def receipt(self, citizen_id: str, stream: str, version: int) -> dict[str, object]:
        violations = [FieldViolation("stream", "required")] if not stream else []
        if not 1 <= version <= MAX_POSITION:
            violations.append(FieldViolation("version", f"from 1 to {MAX_POSITION}"))
        if violations:
            raise InvalidInput(violations)
        item = self._timeline.item(citizen_id, stream, version)
        if item is None:
            if self._exists(stream, version):
                raise NotAllowed("this event is not in your history", reason="EVENT_NOT_YOURS")
            raise NotFound("no such event in your history", reason="EVENT_NOT_FOUND")
        index = self._log.leaf_index_of(item.position)
        latest = self._audit.latest_checkpoint(covering=0 if index is None else index + 1)
        if index is None or index >= latest.tree_size:
            raise Unavailable(
                "this event is not in a signed checkpoint yet; retry shortly",
                reason="NOT_YET_SEQUENCED",
                retry_after=self._audit.checkpoint_interval,
            )
        return self._audit.receipt(index)

    @property
    def changes(self) -> ChangeFeed:
        """What moves when the timeline grows (an asynchronous watcher waits on it)."""
        return self._changes

    def watch_start(self, after_position: int, kinds: Sequence[str]) -> int:
        """The position a watch starts after, once its request is checked."""
        _check_kinds(kinds)
        if after_position > MAX_POSITION:
            raise InvalidInput.of("after_position", f"at most {MAX_POSITION}")
        return after_position

    def items_after(
        self, citizen_id: str, position: int, kinds: Sequence[str]
    ) -> Sequence[TimelineItem]:
        """The next items of a watch, at most a page of them."""
        items = self._timeline.items(
            citizen_id, after_position=position, kinds=kinds, limit=WATCH_BATCH
        )
        return [self._shown(item) for item in items]

    def _exists(self, stream: str, version: int) -> bool:
        try:
            events = self._store.recorder.select_events(UUID(stream), gt=version - 1, lte=version)
        except ValueError:
            return False
        return bool(events)


def within_budget(items: list[TimelineItem], budget: int) -> list[TimelineItem]:
    """The first items whose summaries fit in `budget` bytes of JSON; at least one, so that
    paging always moves on (a summary is at most MAX_SUMMARY_CHARACTERS long, see the view)."""
    used = 0
    for count, item in enumerate(items):
        used += len(json.dumps(item.summary, sort_keys=True).encode())
        if used > budget and count > 0:
            return items[:count]
    return items


def _check_kinds(kinds: Sequence[str]) -> None:
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        # The first one, cut short: the message must not grow with the input (civitas/api/).
        first = unknown[0][:40]
        raise InvalidInput.of("kinds", f"unknown kind {first!r}; known: {', '.join(KINDS)}")


def _token(position: int) -> str:
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode()


def _position_of(token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        digits = text[1:]
        if text[0] == "p" and digits.isascii() and digits.isdigit() and int(digits) <= MAX_POSITION:
            return int(digits)
    except (ValueError, binascii.Error, UnicodeDecodeError, IndexError):
        pass
    raise InvalidInput.of(
        "page_token", "not a token this service gave", reason="INVALID_PAGE_TOKEN"
    )
