"""A history item as the citizen reads it: when, what kind, what happened in their language."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from portal.i18n import SECURITY_KINDS, TEXTS, format_datetime, translate
from protos.civitas.v1 import history_pb2 as hpb

# The filter's choices: a name the citizen picks, and the API kinds it stands for.
KIND_FILTERS: dict[str, tuple[str, ...]] = {
    "all": (),
    "sign_in": ("sign_in",),
    "transaction": ("transaction",),
    "data_access": ("data_access",),
    "security": SECURITY_KINDS,
    "session": ("session",),
}


@dataclass(frozen=True)
class Line:
    position: int
    at: datetime
    when: str
    kind: str
    kind_label: str
    security: bool
    text: str
    stream: str
    version: int
    is_case: bool


def line(item: hpb.HistoryItem, language: str) -> Line:
    at = item.at.ToDatetime(tzinfo=UTC)
    summary = _summary(item.summary_json)
    known_kind = f"kind.{item.kind}"
    return Line(
        position=item.position,
        at=at,
        when=format_datetime(at, language),
        kind=item.kind,
        kind_label=translate(language, known_kind) if _known(known_kind) else item.kind,
        security=item.kind in SECURITY_KINDS,
        text=describe(item.kind, summary, language),
        stream=item.stream,
        version=item.version,
        is_case=item.kind == "transaction",
    )


def describe(kind: str, summary: dict[str, Any], language: str) -> str:
    """One sentence for the citizen; values from the ledger are shown as they are."""
    say = _text(summary)
    if kind == "sign_in":
        if summary.get("outcome") == "success":
            methods = ", ".join(str(m) for m in summary.get("methods", []) or [])
            return translate(
                language,
                "sign_in_ok",
                methods=methods,
                acr=say("acr"),
                service=say("relying_service"),
            )
        return translate(
            language, "sign_in_failed", reason=say("reason"), service=say("relying_service")
        )
    if kind == "data_access":
        return translate(
            language,
            "data_access_line",
            agency=say("agency"),
            resource=say("resource"),
            purpose=say("purpose"),
        )
    if kind == "transaction":
        step = f"step.{say('step')}"
        text = translate(
            language,
            "transaction_line",
            reference=say("reference"),
            service=say("service_code"),
            step=translate(language, step) if _known(step) else say("step"),
        )
        reason = summary.get("reason") or summary.get("note")
        return f"{text}. {translate(language, 'reason')}: {reason}" if reason else text
    change_key = f"change.{say('change')}"
    change = translate(language, change_key) if _known(change_key) else say("change")
    if kind in SECURITY_KINDS:
        method = summary.get("method")
        change = f"{change} ({method})" if method else change
        text = translate(language, "security_line", change=change, by=say("by"))
        reason = summary.get("reason")
        return f"{text}. {translate(language, 'reason')}: {reason}" if reason else text
    if kind == "session":
        if "acr" in summary:
            return translate(
                language, "session_opened", acr=say("acr"), service=say("relying_service")
            )
        return translate(language, "session_line", change=change)
    if kind == "identity":
        return translate(language, "identity_line", change=change)
    return ", ".join(f"{key}: {value}" for key, value in sorted(summary.items()))


def csv_row(item: hpb.HistoryItem, language: str) -> list[str]:
    shown = line(item, language)
    return [
        str(item.position),
        shown.at.isoformat(),
        item.kind,
        item.type,
        shown.text,
        item.stream,
        str(item.version),
    ]


def _summary(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(summary: dict[str, Any]) -> Callable[[str], str]:
    def value(key: str) -> str:
        found = summary.get(key)
        return "" if found is None else str(found)

    return value


def _known(key: str) -> bool:
    return key in TEXTS
