"""The service catalogue: the packaged default, strict checks of a catalogue file, amount rules."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.catalogue import AGENCY_PATTERN, CODE_PATTERN, CatalogueError, ServiceCatalogue
from ledger.errors import InvalidInput

REQUIRED_CODES = {
    "permit.building",
    "permit.event",
    "licence.driving.renewal",
    "licence.business",
    "tax.payment",
    "tax.return",
    "records.request",
    "records.birth-certificate",
    "benefit.application",
    "benefit.child",
}


def service(**overrides: Any) -> dict[str, Any]:
    return {
        "code": "tax.payment",
        "title": "Tax payment",
        "agency": "tax",
        "amount": "required",
        "sla_days": 3,
        **overrides,
    }


def catalogue_text(*services: dict[str, Any]) -> str:
    return json.dumps({"services": list(services)})


def test_the_packaged_catalogue_has_the_default_services() -> None:
    catalogue = ServiceCatalogue.load()
    assert {entry.code for entry in catalogue.entries()} >= REQUIRED_CODES
    for entry in catalogue.entries():
        assert CODE_PATTERN.fullmatch(entry.code)
        assert AGENCY_PATTERN.fullmatch(entry.agency)
        assert entry.title
        assert entry.amount in ("required", "optional", "none")
        assert entry.sla_days > 0
    tax = catalogue.get("tax.payment")
    assert (tax.agency, tax.amount) == ("tax", "required")
    assert catalogue.get("records.request").amount == "none"


def test_a_catalogue_file_is_loaded_in_order(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    path.write_text(
        catalogue_text(
            service(code="permit.tree-felling", agency="parks", amount="none", sla_days=5),
            service(),
        )
    )
    catalogue = ServiceCatalogue.load(path)
    assert [entry.code for entry in catalogue.entries()] == ["permit.tree-felling", "tax.payment"]
    assert catalogue.get("permit.tree-felling").agency == "parks"


def test_an_unknown_service_is_invalid_input_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as raised:
        ServiceCatalogue.load().get("permit.moon-landing")
    assert [v.field for v in raised.value.violations] == ["service_code"]
    assert "unknown service" in raised.value.violations[0].description


def test_the_catalogue_cannot_be_changed() -> None:
    catalogue = ServiceCatalogue.load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalogue.by_code = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        catalogue.by_code["x.y"] = catalogue.get("tax.payment")  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalogue.get("tax.payment").sla_days = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{", "not valid JSON"),
        ("[]", '"services"'),
        ('{"services": [], "version": 1}', '"services"'),
        ('{"services": []}', "non-empty"),
        ('{"services": [], "services": []}', "duplicate key"),
        (catalogue_text(service(), service()), "listed twice"),
        (catalogue_text(service(code="Tax.payment")), "code must match"),
        (catalogue_text(service(code="tax")), "code must match"),
        (catalogue_text(service(code="tax.")), "code must match"),
        (catalogue_text(service(code="tax.pay_ment")), "code must match"),
        (catalogue_text(service(code="tax..payment")), "code must match"),
        (catalogue_text(service(code=7)), "code must match"),
        (catalogue_text(service(title="")), "title"),
        (catalogue_text(service(title="x" * 201)), "title"),
        (catalogue_text(service(agency="Tax")), "agency"),
        (catalogue_text(service(agency="")), "agency"),
        (catalogue_text(service(amount="sometimes")), "amount"),
        (catalogue_text(service(sla_days=0)), "sla_days"),
        (catalogue_text(service(sla_days=-3)), "sla_days"),
        (catalogue_text(service(sla_days=2.5)), "sla_days"),
        (catalogue_text(service(sla_days="3")), "sla_days"),
        (catalogue_text(service(sla_days=True)), "sla_days"),
        (catalogue_text(service(fee=10)), "unknown ['fee']"),
        (catalogue_text({k: v for k, v in service().items() if k != "title"}), "missing ['title']"),
        ('{"services": ["tax.payment"]}', "must be an object"),
    ],
)
def test_a_malformed_catalogue_is_refused(text: str, complaint: str) -> None:
    with pytest.raises(CatalogueError) as raised:
        ServiceCatalogue.parse(text)
    assert complaint in str(raised.value)


@pytest.mark.parametrize(
    ("rule", "amount_minor", "currency", "fields"),
    [
        ("required", 100, "EUR", []),
        ("required", 0, "EUR", []),
        ("required", None, None, ["amount.minor_units", "amount.currency"]),
        ("required", 100, None, ["amount.currency"]),
        ("optional", None, None, []),
        ("optional", 100, "EUR", []),
        ("optional", 100, None, ["amount.currency"]),
        ("optional", None, "EUR", ["amount.minor_units"]),
        ("none", None, None, []),
        ("none", 100, "EUR", ["amount.minor_units", "amount.currency"]),
        ("none", None, "EUR", ["amount.currency"]),
    ],
)
def test_amount_rules(
    rule: str, amount_minor: int | None, currency: str | None, fields: list[str]
) -> None:
    entry = ServiceCatalogue.parse(catalogue_text(service(amount=rule))).get("tax.payment")
    violations = entry.amount_violations(amount_minor, currency)
    assert [v.field for v in violations] == fields
