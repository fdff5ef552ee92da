"""JSON Web Tokens (RFC 7519) signed with Ed25519 (RFC 8037), and their JWK Set (RFC 7517).

Only `cryptography` and the standard library. The verifier follows the JWT Best Current Practices
(RFC 8725): exactly one algorithm is accepted (§3.1: never "none", never a MAC keyed with a public
key), the key comes from the verifier's own key set by ``kid`` and never from the token (§3.10),
and the issuer (§3.8), every time claim and the audience (§3.9) are checked.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from identity import base64url

# RFC 8037 §3.1. (RFC 9864 later names the fully specified "Ed25519"; "EdDSA" is what deployed
# libraries verify today.)
ALGORITHM: Final = "EdDSA"
# A JWT carried in a gRPC metadata header stays well below this; refusing larger input first
# bounds the work done on garbage (base64, JSON nesting).
MAX_TOKEN_LENGTH: Final = 8192

_ED25519_KEY_BYTES: Final = 32
_ED25519_SIGNATURE_BYTES: Final = 64
# RFC 7517 §4 / RFC 8037 §2: the private members of an OKP key.
_PRIVATE_MEMBERS: Final = frozenset({"d"})

TokenErrorReason = Literal[
    "malformed",
    "signature",
    "expired",
    "not_yet_valid",
    "issuer",
    "audience",
    "unknown_key",
    "algorithm",
]

_REASON_MESSAGES: Final[dict[str, str]] = {
    "malformed": "the token is malformed",
    "signature": "the token signature does not verify",
    "expired": "the token has expired",
    "not_yet_valid": "the token is not valid yet",
    "issuer": "the token is not from the expected issuer",
    "audience": "the token is not meant for this audience",
    "unknown_key": "the token is signed with an unknown key",
    "algorithm": "the token algorithm is not accepted",
}


class TokenError(ValueError):
    """A token is refused; `reason` says why. The message never quotes the token."""

    reason: TokenErrorReason

    def __init__(self, reason: TokenErrorReason) -> None:
        super().__init__(_REASON_MESSAGES[reason])
        self.reason = reason


# --- encoding (RFC 7515 §2, RFC 8725 §3.7) ------------------------------------------------------


def b64url_decode(text: str) -> bytes:
    """A token segment, strictly decoded; raises `TokenError("malformed")`.

    Strict (see `identity.base64url`): a token has exactly one serialisation, so two different
    strings never carry the same signature.
    """
    try:
        return base64url.decode(text)
    except base64url.Base64urlError:
        raise TokenError("malformed") from None


def canonical_json(value: Mapping[str, object]) -> bytes:
    """UTF-8 JSON with sorted keys and no insignificant whitespace (RFC 7519 §7.1 asks for UTF-8);
    NaN and infinities, which JSON does not have, are refused."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def sign_compact(private_key: Ed25519PrivateKey, header: bytes, payload: bytes) -> str:
    """JWS compact serialisation (RFC 7515 §7.1) of *payload* under the protected *header*, both
    given as the exact bytes to encode; Ed25519 signs the ASCII signing input (RFC 8037 §3.1)."""
    signing_input = f"{base64url.encode(header)}.{base64url.encode(payload)}"
    signature = private_key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{base64url.encode(signature)}"


# --- signing ------------------------------------------------------------------------------------


class TokenSigner:
    """Signs JWTs with one Ed25519 key, named by *kid* in the header and in the JWK."""

    __slots__ = ("_header", "_key", "_kid")

    def __init__(self, kid: str, private_key: Ed25519PrivateKey) -> None:
        if not kid:
            raise ValueError("kid must not be empty")
        self._kid = kid
        self._key = private_key
        # ``typ`` is "JWT" for explicit typing (RFC 8725 §3.11); the same for every token.
        self._header = canonical_json({"alg": ALGORITHM, "kid": kid, "typ": "JWT"})

    @property
    def kid(self) -> str:
        return self._kid

    def __repr__(self) -> str:
        return f"TokenSigner(kid={self._kid!r})"

    def sign(self, claims: Mapping[str, object]) -> str:
        """The compact JWT of *claims*."""
        return sign_compact(self._key, self._header, canonical_json(claims))

    def jwk(self) -> dict[str, str]:
        """The public key as a JWK (RFC 8037 §2), with no private member."""
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": base64url.encode(raw),
            "kid": self._kid,
            "use": "sig",
            "alg": ALGORITHM,
        }


def jwks(keys: Sequence[Mapping[str, str]]) -> dict[str, object]:
    """A JWK Set (RFC 7517 §5) for publication. Refuses keys with private members."""
    published: list[dict[str, str]] = []
    for key in keys:
        if _PRIVATE_MEMBERS & key.keys():
            raise ValueError("a published JWK must not contain private key members")
        published.append(dict(key))
    return {"keys": published}


# --- verification -------------------------------------------------------------------------------


class TokenVerifier:
    """Verifies JWTs against the Ed25519 keys of a JWK Set, chosen by ``kid``.

    Keys of other types or uses in the set are ignored (a published set may hold them); an
    Ed25519 key that is malformed, a duplicate kid or a private key is a configuration error
    (`ValueError`).
    """

    __slots__ = ("_keys",)

    def __init__(self, jwks: Mapping[str, object]) -> None:
        keys = jwks.get("keys")
        if not isinstance(keys, list):
            raise ValueError('a JWK Set needs a "keys" list')
        self._keys: dict[str, Ed25519PublicKey] = dict(_ed25519_keys(keys))

    def __repr__(self) -> str:
        return f"TokenVerifier(kids={sorted(self._keys)!r})"

    def verify(
        self,
        token: str,
        *,
        issuer: str,
        audience: str | None,
        now: datetime.datetime,
        leeway: datetime.timedelta = datetime.timedelta(seconds=30),
        check_expiry: bool = True,
    ) -> dict[str, object]:
        """The claims of *token* if it is well formed, signed by a known key, issued by *issuer*,
        current at *now* (within *leeway* for clock skew) and meant for *audience*;
        `TokenError` otherwise.

        Refused as "malformed" as well: a token without ``exp`` (Civitas issues no token that
        lives for ever) and an unknown critical header (RFC 7515 §4.1.11). When *audience* is
        None a token that names an audience is refused (RFC 7519 §4.1.3: a principal that does
        not identify itself with the ``aud`` value MUST reject it).

        *check_expiry* False leaves ``exp`` (still required and well formed) to the caller: only
        for the token's own issuer, which holds the session the ``exp`` was copied from and can
        tell an idle session from one that reached its end.
        """
        if now.tzinfo is None:
            raise ValueError("verify needs a timezone-aware now")
        header_segment, payload_segment, signature, key = self._check_header(token)
        try:
            key.verify(signature, f"{header_segment}.{payload_segment}".encode("ascii"))
        except InvalidSignature:
            raise TokenError("signature") from None
        claims = _json_object(b64url_decode(payload_segment))
        _check_times(claims, now.timestamp(), leeway.total_seconds(), check_expiry=check_expiry)
        if claims.get("iss") != issuer:  # RFC 7519 §4.1.1: a case-sensitive string
            raise TokenError("issuer")
        _check_audience(claims, audience)
        return claims

    def _check_header(self, token: str) -> tuple[str, str, bytes, Ed25519PublicKey]:
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise TokenError("malformed")
        segments = token.split(".")
        if len(segments) != 3:  # five would be JWE (RFC 7516), which is not accepted
            raise TokenError("malformed")
        header_segment, payload_segment, signature_segment = segments
        header = _json_object(b64url_decode(header_segment))
        # Checked before the key: "alg" decides how everything else is read (RFC 8725 §3.1).
        if header.get("alg") != ALGORITHM:
            raise TokenError("algorithm")
        if "crit" in header:  # no extension is understood, so none may be critical
            raise TokenError("malformed")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise TokenError("malformed")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenError("unknown_key")
        b64url_decode(payload_segment)  # a well-formed token before any signature work
        signature = b64url_decode(signature_segment)
        if len(signature) != _ED25519_SIGNATURE_BYTES:
            raise TokenError("signature")
        return header_segment, payload_segment, signature, key


def _ed25519_keys(keys: Iterable[object]) -> Iterable[tuple[str, Ed25519PublicKey]]:
    seen: set[str] = set()
    for jwk in keys:
        if not isinstance(jwk, Mapping):
            raise ValueError("every JWK must be a JSON object")
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
            continue
        if _PRIVATE_MEMBERS & jwk.keys():
            raise ValueError("a verifier's JWK Set must not contain private keys")
        kid, x = jwk.get("kid"), jwk.get("x")
        if not isinstance(kid, str) or not kid:
            raise ValueError("every Ed25519 JWK needs a kid")
        if kid in seen:
            raise ValueError(f"duplicate kid {kid!r} in the JWK Set")
        if not isinstance(x, str):
            raise ValueError(f'the JWK {kid!r} has no "x"')
        try:
            raw = b64url_decode(x)
        except TokenError:
            raise ValueError(f'the JWK {kid!r} has a malformed "x"') from None
        if len(raw) != _ED25519_KEY_BYTES:
            raise ValueError(f'the JWK {kid!r} "x" is not an Ed25519 public key')
        seen.add(kid)
        yield kid, Ed25519PublicKey.from_public_bytes(raw)


def _json_object(data: bytes) -> dict[str, object]:
    """RFC 7519 §7.2: a UTF-8 JSON object. Duplicate member names are refused (RFC 7515 §5.2
    allows either that or last-wins; refusing leaves no room for parser disagreement)."""
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise TokenError("malformed") from None
    if not isinstance(value, dict):
        raise TokenError("malformed")
    return value


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _numeric_date(claims: Mapping[str, object], name: str) -> float | int | None:
    """RFC 7519 §2 NumericDate: a JSON number of seconds since the epoch."""
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError("malformed")
    # Only floats can be infinite; math.isfinite would overflow converting a huge int.
    if isinstance(value, float) and not math.isfinite(value):
        raise TokenError("malformed")
    return value


def _check_times(
    claims: Mapping[str, object], now: float, leeway: float, *, check_expiry: bool
) -> None:
    # Comparisons are written so that huge integers from the token are compared, never added to
    # (int + float overflows for exponents past 10**308).
    expires = _numeric_date(claims, "exp")
    if expires is None:
        raise TokenError("malformed")
    # RFC 7519 §4.1.4: valid only while now is before exp.
    if check_expiry and now - leeway >= expires:
        raise TokenError("expired")
    # RFC 7519 §4.1.5: not valid before nbf. An iat in the future is equally a token from a
    # clock that cannot be trusted.
    for name in ("nbf", "iat"):
        moment = _numeric_date(claims, name)
        if moment is not None and moment > now + leeway:
            raise TokenError("not_yet_valid")


def _check_audience(claims: Mapping[str, object], audience: str | None) -> None:
    if "aud" not in claims:
        if audience is not None:
            raise TokenError("audience")
        return
    value = claims["aud"]
    # RFC 7519 §4.1.3: a string or an array of strings.
    if isinstance(value, str):
        audiences = [value]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        audiences = value
    else:
        raise TokenError("malformed")
    if audience is None or audience not in audiences:
        raise TokenError("audience")
