"""Log lines for people (text) and for log pipelines (one JSON object a line), with the id of
the request they belong to.

The request id lives in a context variable the gRPC interceptor sets for the length of a call,
so every line logged while serving it carries the id, whichever module logs it. Only the fields
named here ever reach a JSON line: a stray `extra=` cannot leak metadata or a request body.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from civitas.config import LOG_FORMATS

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


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the call being served (or None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = CURRENT_REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, the access line's call fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        for name in CALL_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The developer's format, with the request id appended inside a call."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        text = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        return f"{text} [request {request_id}]" if request_id else text


def configure_logging(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to `stream` (standard error) in the chosen format; replaces the
    root logger's handlers, so calling it twice does not print lines twice."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def call_fields(method: str, caller: str | None, code: str, seconds: float) -> Mapping[str, object]:
    """The access line's fields, as `extra=` for `logging`."""
    return {
        "method": method,
        "caller": caller,
        "code": code,
        "duration_ms": round(seconds * 1000, 3),
    }


def _rfc3339(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
