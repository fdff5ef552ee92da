"""The service catalogue: which government transactions exist, who handles them, what they cost.

The catalogue is configuration read once at start (`ServiceCatalogue.load()`), not ledger state:
a transaction records its service code, and the catalogue says which agency may act on it and
whether it carries an amount. The file is checked strictly, so a typo stops the process at start
instead of turning into a service nobody can submit to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from ledger.errors import FieldViolation, InvalidInput

CODE_PATTERN = re.compile(r"[a-z]+(\.[a-z-]+)+")
# The same shape as the `<name>` in an `agency:<name>` service-account role (ledger/accounts.py),
# so a caller's role names the agency whose services it may act on.
AGENCY_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
AMOUNT_RULES = ("required", "optional", "none")
FIELDS = {"code", "title", "agency", "amount", "sla_days"}
MAX_TITLE = 200

AmountRule = Literal["required", "optional", "none"]


class CatalogueError(ValueError):
    """The catalogue file is malformed: an operator's mistake, found at start."""


@dataclass(frozen=True)
class ServiceEntry:
    code: str
    title: str
    agency: str
    amount: AmountRule  # does a submission carry an amount (a fee, a payment)?
    sla_days: int  # target days from submission to a decision

    def amount_violations(
        self, amount_minor: int | None, currency: str | None
    ) -> list[FieldViolation]:
        """How a submission's amount breaks this service's rule (it is given, or not, as one)."""
        given = {
            "amount.minor_units": amount_minor is not None,
            "amount.currency": currency is not None,
        }
        if self.amount == "required":
            return [
                FieldViolation(name, f"is required for {self.code}")
                for name, ok in given.items()
                if not ok
            ]
        if self.amount == "none":
            return [
                FieldViolation(name, f"{self.code} takes no amount")
                for name, ok in given.items()
                if ok
            ]
        if given["amount.minor_units"] != given["amount.currency"]:
            missing = "amount.currency" if given["amount.minor_units"] else "amount.minor_units"
            return [FieldViolation(missing, "minor_units and currency go together")]
        return []


@dataclass(frozen=True)
class ServiceCatalogue:
    by_code: Mapping[str, ServiceEntry]

    @classmethod
    def load(cls, path: Path | None = None) -> ServiceCatalogue:
        """The catalogue at `path`, or the one packaged with Civitas."""
        if path is None:
            text = resources.files("ledger").joinpath("catalogue.json").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        return cls.parse(text)

    @classmethod
    def parse(cls, text: str) -> ServiceCatalogue:
        try:
            document = json.loads(text, object_pairs_hook=_unique_keys)
        except ValueError as error:
            raise CatalogueError(f"catalogue is not valid JSON: {error}") from None
        if not isinstance(document, dict) or set(document) != {"services"}:
            raise CatalogueError('catalogue must be an object with one key, "services"')
        services = document["services"]
        if not isinstance(services, list) or not services:
            raise CatalogueError('"services" must be a non-empty list')
        by_code: dict[str, ServiceEntry] = {}
        for position, raw in enumerate(services):
            entry = _entry(position, raw)
            if entry.code in by_code:
                raise CatalogueError(f"service {entry.code!r} is listed twice")
            by_code[entry.code] = entry
        return cls(MappingProxyType(by_code))

    def get(self, code: str) -> ServiceEntry:
        entry = self.by_code.get(code)
        if entry is None:
            raise InvalidInput.of(
                "service_code", f"unknown service {code[:80]!r}", reason="UNKNOWN_SERVICE"
            )
        return entry

    def entries(self) -> tuple[ServiceEntry, ...]:
        return tuple(self.by_code.values())


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicated = {key for key in keys if keys.count(key) > 1}
    if duplicated:
        raise CatalogueError(f"duplicate key(s) {sorted(duplicated)} in one object")
    return dict(pairs)


def _entry(position: int, raw: object) -> ServiceEntry:
    where = f"services[{position}]"
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where} must be an object")
    if set(raw) != FIELDS:
        missing, unknown = sorted(FIELDS - set(raw)), sorted(set(raw) - FIELDS)
        raise CatalogueError(f"{where}: missing {missing}, unknown {unknown}")
    code, title, agency = raw["code"], raw["title"], raw["agency"]
    amount, sla_days = raw["amount"], raw["sla_days"]
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        raise CatalogueError(f"{where}.code must match {CODE_PATTERN.pattern}")
    where = f"service {code!r}"
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise CatalogueError(f"{where}: title must be 1-{MAX_TITLE} characters")
    if not isinstance(agency, str) or not AGENCY_PATTERN.fullmatch(agency):
        raise CatalogueError(f"{where}: agency must match {AGENCY_PATTERN.pattern}")
    if amount not in AMOUNT_RULES:
        raise CatalogueError(f"{where}: amount must be one of {', '.join(AMOUNT_RULES)}")
    # bool is an int in Python; `true` days is a mistake, not 1.
    if type(sla_days) is not int or sla_days <= 0:
        raise CatalogueError(f"{where}: sla_days must be a positive integer")
    return ServiceEntry(code, title, agency, cast(AmountRule, amount), sla_days)
