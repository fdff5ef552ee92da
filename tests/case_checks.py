"""The API layer's ownership checks as a caller would bring them, for tests that drive the
transaction application directly (civitas/api/authorization.py decides; the domain asks)."""

from __future__ import annotations

from functools import partial

from civitas.api.authorization import require_own_case
from ledger.accounts import Caller
from ledger.transactions import CaseCheck


def as_agency(agency: str) -> CaseCheck:
    """An account of `agency` acting: its own cases only."""
    return partial(require_own_case, Caller(f"{agency}-office", f"agency:{agency}"))


def as_citizen(citizen_id: str) -> CaseCheck:
    """The citizen `citizen_id` acting: their own case only."""
    return partial(require_own_case, Caller(citizen_id, "citizen"))
