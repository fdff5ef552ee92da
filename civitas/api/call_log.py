"""The call being served, as the logs see it: its request id and the access line's fields.

The interceptor sets the request id for the length of a call; `civitas.logs` stamps it on every
line logged meanwhile and lets only `CALL_FIELDS` into a JSON line.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from contextvars import ContextVar

REQUEST_ID_HEADER = "x-request-id"
# The access log line's fields (besides time, level, logger, message and request_id).
CALL_FIELDS = ("method", "caller", "code", "duration_ms")

CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("civitas_request_id", default=None)

# A caller's own id is kept when it is short and plain, so it can be followed across services;
# anything else (long, spaces, quotes, control characters) is replaced, never echoed.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")


def request_id_from(metadata: Sequence[tuple[str, str | bytes]]) -> str:
    """The caller's `x-request-id` when it is sane, else a new random id."""
    for key, value in metadata:
        if key == REQUEST_ID_HEADER and isinstance(value, str):
            if _SANE_REQUEST_ID.fullmatch(value):
                return value
            break
    return uuid.uuid4().hex


def call_fields(method: str, caller: str | None, code: str, seconds: float) -> Mapping[str, object]:
    """The access line's fields, as `extra=` for `logging`."""
    return {
        "method": method,
        "caller": caller,
        "code": code,
        "duration_ms": round(seconds * 1000, 3),
    }
