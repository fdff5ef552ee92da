"""The human-readable account name an authenticator shows: WebAuthn `user.name` and
`user.displayName` (L3 section 5.4.3) and the account of a TOTP `otpauth://` label.

The registrar or the citizen chooses it; when neither does, the citizen's email address, or
their name, is the name people recognise. Never the citizen id: a UUID tells nobody which account
a passkey or a code is for. These names go to the citizen's own device only, never the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping

FALLBACK = "Civitas account"


def account_name(chosen: str, personal_data: Mapping[str, str]) -> str:
    if chosen.strip():
        return chosen.strip()
    return personal_data.get("email") or full_name(personal_data) or FALLBACK


def full_name(personal_data: Mapping[str, str]) -> str:
    parts = (personal_data.get("given_name", ""), personal_data.get("family_name", ""))
    return " ".join(part for part in parts if part)
