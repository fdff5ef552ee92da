"""A session's tokens: the claims every token carries, signed, and read back by their issuer.

Sign-in and refresh both issue through `TokenIssuer.issue`, so a token's claims are decided in
one place; `identity.tokens` does the JWT encoding and checking itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from identity.session import Session
from identity.tokens import TokenSigner, TokenVerifier, jwks


class TokenIssuer:
    def __init__(self, signer: TokenSigner, *, issuer: str, audience: str) -> None:
        self._signer = signer
        self._verifier = TokenVerifier(jwks([signer.jwk()]))
        self._issuer = issuer
        self._audience = audience

    def claims(self, session: Session, now: datetime) -> dict[str, Any]:
        """The claims of the session's current token, issued at *now*."""
        return {
            "iss": self._issuer,
            "sub": session.citizen_id,
            "aud": self._audience,
            "iat": int(now.timestamp()),
            # Whole seconds (RFC 7519 NumericDate), rounded down: never past the deadline.
            "exp": int(session.token_expires_at().timestamp()),
            "jti": session.token_id,
            "sid": str(session.id),
            "acr": session.acr,
            "amr": session.amr,
        }

    def issue(self, session: Session, now: datetime) -> tuple[str, datetime]:
        """The session's current token, signed, and when it expires: with the session's next
        deadline."""
        claims = self.claims(session, now)
        return self._signer.sign(claims), datetime.fromtimestamp(claims["exp"], UTC)

    def verify(self, token: str, now: datetime, *, check_expiry: bool = True) -> dict[str, Any]:
        """The claims of a token this issuer signed for its own audience; `TokenError` if not."""
        return self._verifier.verify(
            token, issuer=self._issuer, audience=self._audience, now=now, check_expiry=check_expiry
        )

    def jwks(self) -> dict[str, object]:
        """The JWK Set relying services verify tokens with."""
        return jwks([self._signer.jwk()])
