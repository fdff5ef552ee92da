"""Every word the portal shows, in English, Estonian and French (the languages Civitas' own
messages carry), and dates and numbers written the way each language writes them.

A missing translation is a test failure (tests/portal/test_portal_units.py), not a fallback."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.texts import TEXTS as PAGE_TEXTS
from portal.vocabulary import SECURITY_KINDS, VOCABULARY

LANGUAGES = ("en", "et", "fr")
LANGUAGE_NAMES = {"en": "English", "et": "Eesti", "fr": "Français"}
DEFAULT_LANGUAGE = "en"

TEXTS = {**PAGE_TEXTS, **VOCABULARY}
__all__ = ["SECURITY_KINDS", "TEXTS"]

MONTHS = {
    "en": "January February March April May June July August September October November December",
    "et": "jaanuar veebruar märts aprill mai juuni juuli august september oktoober november"
    " detsember",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
}


def choose_language(accept_language: str) -> str:
    """The first of the citizen's languages (RFC 9110 weights) the portal speaks."""
    weighted: list[tuple[float, int, str]] = []
    for order, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        weighted.append((-weight, order, tag.strip().lower().split("-")[0]))
    for negative_weight, _, language in sorted(weighted):
        if negative_weight < 0 and language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


def translate(language: str, key: str, /, **values: object) -> str:
    text = TEXTS[key][LANGUAGES.index(language)]
    return text.format(**values) if values else text


def format_datetime(moment: datetime, language: str) -> str:
    """`7 December 2026, 14:46 UTC`, `7. detsember 2026, 14:46 UTC`, `7 décembre 2026 à
    14:46 UTC`: the times are the ledger's, in UTC, and say so."""
    moment = moment.astimezone(UTC)
    month = MONTHS[language].split()[moment.month - 1]
    clock = moment.strftime("%H:%M:%S")
    if language == "et":
        return f"{moment.day}. {month} {moment.year}, {clock} UTC"
    if language == "fr":
        return f"{moment.day} {month} {moment.year} à {clock} UTC"
    return f"{moment.day} {month} {moment.year}, {clock} UTC"


def format_number(number: int, language: str) -> str:
    """Thousands grouped as each language does: 12,345 / 12 345 (a no-break space)."""
    grouped = f"{number:,}"
    return grouped if language == "en" else grouped.replace(",", "\u00a0")
