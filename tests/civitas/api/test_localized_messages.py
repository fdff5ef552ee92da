"""Errors carry a message in the caller's language (google.rpc.LocalizedMessage)."""

from __future__ import annotations

import pytest
from google.rpc import code_pb2, error_details_pb2

from civitas.api.localized_messages import MESSAGES, choose_locale, localized_message
from civitas.api.status import status_for
from ledger.errors import (
    Aborted,
    FieldViolation,
    InvalidInput,
    NotAllowed,
    Unavailable,
)
from tests.civitas.status_details import detail, reason


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("", "en"),
        ("et", "et"),
        ("et-EE,et;q=0.9,en;q=0.8", "et"),
        ("de-DE, fr;q=0.7, en;q=0.5", "fr"),
        ("en;q=0.3, fr;q=0.9", "fr"),
        ("ja", "en"),
        ("fr;q=0, et;q=0.1", "et"),
        ("fr;q=banana", "en"),
    ],
)
def test_locale_follows_accept_language(header: str, locale: str) -> None:
    assert choose_locale(header) == locale


def test_every_shipped_language_covers_every_error_kind() -> None:
    kinds = set(MESSAGES["en"])
    assert len(MESSAGES) >= 3
    for table in MESSAGES.values():
        assert set(table) == kinds


def test_status_details_carry_the_localized_message_and_the_fields() -> None:
    error = InvalidInput([FieldViolation("purpose", "required")])
    status = status_for(error, "et-EE")
    localized = detail(status, error_details_pb2.LocalizedMessage)
    assert localized is not None
    assert localized.locale == "et"
    assert localized.message == "Osa esitatud andmetest ei ole korrektne: purpose."
    assert (
        localized_message(NotAllowed("x"), "fr")
        == "Vous n'êtes pas autorisé à effectuer cette action."
    )


def test_every_refusal_carries_a_stable_reason_in_the_civitas_domain() -> None:
    assert reason(status_for(InvalidInput.of("purpose", "required"))) == "INVALID_ARGUMENT"
    assert reason(status_for(NotAllowed("x", reason="WRONG_AGENCY"))) == "WRONG_AGENCY"
    assert status_for(Aborted("x")).code == code_pb2.ABORTED


def test_a_refusal_that_a_retry_cures_says_when() -> None:
    status = status_for(Unavailable("not yet", reason="NOT_YET_SEQUENCED", retry_after=0.25))
    assert status.code == code_pb2.UNAVAILABLE
    retry = detail(status, error_details_pb2.RetryInfo)
    assert retry is not None
    assert retry.retry_delay.ToMilliseconds() == 250
    assert detail(status_for(NotAllowed("x")), error_details_pb2.RetryInfo) is None
