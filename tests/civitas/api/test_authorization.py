"""Who a caller speaks for and whose cases they may act on or read: pure functions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from civitas.api.authorization import (
    actor_of,
    agency_of,
    citizen_of,
    is_citizen,
    recovery_canceller,
    require_own_case,
    require_readable_case,
)
from identity.authority import CitizenProof
from ledger.accounts import Caller
from ledger.errors import NotAllowed

CITIZEN = "5f0c6c1e-8a0e-4d57-9b61-2c3f4a5b6c7d"
STRANGER = "0b9e8c7d-6f5a-4e3d-8c2b-1a0f9e8d7c6b"
TAX = Caller("tax-office", "agency:tax")
RECORDS = Caller("records-office", "agency:records")
AUDITOR = Caller("auditor-1", "auditor")


@dataclass(frozen=True)
class Case:
    agency: str
    citizen_id: str


TAX_CASE = Case("tax", CITIZEN)


def reason(error: pytest.ExceptionInfo[NotAllowed]) -> str:
    return error.value.reason


def test_an_agency_account_speaks_for_its_agency_only() -> None:
    assert agency_of(TAX) == "tax"
    assert agency_of(Caller("x", "agency:permit.building")) == "permit.building"
    for caller in (AUDITOR, Caller(CITIZEN, "citizen"), Caller("admin", "admin")):
        with pytest.raises(NotAllowed) as refused:
            agency_of(caller)
        assert reason(refused) == "AGENCY_ONLY"


def test_a_citizen_is_their_tokens_subject_and_nobody_else_is_a_citizen() -> None:
    citizen = Caller(CITIZEN, "citizen")
    assert is_citizen(citizen)
    assert citizen_of(citizen) == CITIZEN
    assert actor_of(citizen) == f"citizen:{CITIZEN}"
    assert actor_of(TAX) == "service:tax-office"
    for caller in (TAX, AUDITOR, Caller(CITIZEN, "admin")):
        assert not is_citizen(caller)
        with pytest.raises(NotAllowed) as refused:
            citizen_of(caller)
        assert reason(refused) == "CITIZEN_ONLY"


@pytest.mark.parametrize("check", [require_own_case, require_readable_case])
def test_the_owners_pass(check: object) -> None:
    assert callable(check)
    check(TAX, TAX_CASE)
    check(Caller(CITIZEN, "citizen"), TAX_CASE)
    check(Caller(CITIZEN.upper(), "citizen"), TAX_CASE)  # the same id, written otherwise


def test_another_agency_may_neither_act_on_nor_read_a_case() -> None:
    with pytest.raises(NotAllowed, match="agency 'records' cannot act on agency 'tax'") as acts:
        require_own_case(RECORDS, TAX_CASE)
    with pytest.raises(NotAllowed, match="agency records cannot read agency tax's") as reads:
        require_readable_case(RECORDS, TAX_CASE)
    assert reason(acts) == reason(reads) == "CASE_OF_ANOTHER_AGENCY"


def test_another_citizen_may_neither_act_on_nor_read_a_case() -> None:
    stranger = Caller(STRANGER, "citizen")
    with pytest.raises(NotAllowed, match="another citizen") as acts:
        require_own_case(stranger, TAX_CASE)
    with pytest.raises(NotAllowed, match="not your case") as reads:
        require_readable_case(stranger, TAX_CASE)
    assert reason(acts) == reason(reads) == "CASE_OF_ANOTHER_CITIZEN"
    with pytest.raises(NotAllowed):
        require_own_case(Caller("not-a-uuid", "citizen"), TAX_CASE)


def test_neither_agency_nor_citizen_owns_any_case() -> None:
    for check in (require_own_case, require_readable_case):
        with pytest.raises(NotAllowed) as refused:
            check(AUDITOR, TAX_CASE)
        assert reason(refused) == "AGENCY_ONLY"


def test_an_account_with_several_capabilities_speaks_for_its_one_agency() -> None:
    counter = Caller("building-counter", "agency:building,registrar,relying-service")
    assert agency_of(counter) == "building"
    with pytest.raises(NotAllowed) as raised:
        agency_of(Caller("desk", "registrar,relying-service"))
    assert reason(raised) == "AGENCY_ONLY"


def test_whose_proof_cancels_a_recovery() -> None:
    relayed = CitizenProof(citizen_token="relayed.jwt.token")
    citizen = Caller(CITIZEN, "citizen")
    portal = Caller("portal", "relying-service")
    admin = Caller("operator", "admin")
    assert recovery_canceller(citizen, None, "own.jwt.token") == CitizenProof("own.jwt.token")
    assert recovery_canceller(portal, relayed, "cvk.portal.x") == relayed
    assert recovery_canceller(admin, None, "cvk.operator.x") is None
    # A relying service relaying nothing gets an empty proof, which the application refuses.
    assert recovery_canceller(portal, None, "cvk.portal.x") == CitizenProof()
