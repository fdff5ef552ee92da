"""Token issuance: the claims every session token carries, decided in one place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from identity.session import Session
from identity.token_issuance import TokenIssuer
from identity.tokens import TokenError, TokenSigner, TokenVerifier
from tests.identity.conftest import new_session

NOW = datetime(2026, 11, 23, 9, 0, 0, 750_000, tzinfo=UTC)  # a fraction of a second past
SIGNER = TokenSigner("t1", Ed25519PrivateKey.generate())
ISSUER = TokenIssuer(SIGNER, issuer="civitas", audience="portal")


def session() -> Session:
    return new_session(NOW, NOW + timedelta(hours=12), NOW + timedelta(minutes=30), "jti-1")


def test_the_claims_name_the_session_and_expire_with_its_next_deadline() -> None:
    started = session()
    assert ISSUER.claims(started, NOW) == {
        "iss": "civitas",
        "sub": started.citizen_id,
        "aud": "portal",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(minutes=30)).timestamp()),  # rounded down, never later
        "jti": "jti-1",
        "sid": str(started.id),
        "acr": "AAL2",
        "amr": ["pwd", "otp"],
    }


def test_an_issued_token_verifies_with_the_published_keys_and_reads_back() -> None:
    started = session()
    token, expires_at = ISSUER.issue(started, NOW)
    assert expires_at == datetime.fromtimestamp(ISSUER.claims(started, NOW)["exp"], UTC)
    assert expires_at <= started.token_expires_at()
    claims = ISSUER.verify(token, NOW)
    assert claims == ISSUER.claims(started, NOW)
    offline = TokenVerifier(ISSUER.jwks()).verify(
        token, issuer="civitas", audience="portal", now=NOW
    )
    assert offline == claims


def test_a_token_of_another_audience_or_past_its_deadline_is_refused() -> None:
    token, expires_at = ISSUER.issue(session(), NOW)
    other = TokenIssuer(SIGNER, issuer="civitas", audience="another-portal")
    with pytest.raises(TokenError, match="audience"):
        other.verify(token, NOW)
    late = expires_at + timedelta(minutes=1)
    with pytest.raises(TokenError, match="expired"):
        ISSUER.verify(token, late)
    assert ISSUER.verify(token, late, check_expiry=False)["jti"] == "jti-1"
