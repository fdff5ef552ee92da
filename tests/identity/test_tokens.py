"""Tests for identity.tokens: the RFC 8037 Ed25519 vector, round trips, every refusal."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from identity.base64url import encode as b64url_encode
from identity.tokens import (
    MAX_TOKEN_LENGTH,
    TokenError,
    TokenSigner,
    TokenVerifier,
    b64url_decode,
    canonical_json,
    jwks,
    sign_compact,
)

# RFC 8037 Appendix A.1 (private key), A.2 (public key) and A.4 (Ed25519 signing).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_HEADER = b'{"alg":"EdDSA"}'
RFC8037_PAYLOAD = b"Example of Ed25519 signing"
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ISSUER = "https://id.civitas.test"
AUDIENCE = "https://portal.civitas.test"
LEEWAY = timedelta(seconds=30)

SIGNER_KEY = Ed25519PrivateKey.generate()
SIGNER = TokenSigner("k1", SIGNER_KEY)
OTHER = TokenSigner("k2", Ed25519PrivateKey.generate())
VERIFIER = TokenVerifier(jwks([SIGNER.jwk()]))


def claims(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": ISSUER,
        "sub": "citizen-1",
        "aud": AUDIENCE,
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(minutes=15)).timestamp()),
        "amr": ["pwd", "otp"],
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def refused(token: str, audience: str | None = AUDIENCE, now: datetime = NOW) -> str:
    with pytest.raises(TokenError) as caught:
        VERIFIER.verify(token, issuer=ISSUER, audience=audience, now=now, leeway=LEEWAY)
    return caught.value.reason


def forged(
    header: Mapping[str, object], payload: bytes, key: Ed25519PrivateKey | None = None
) -> str:
    return sign_compact(key or SIGNER_KEY, canonical_json(header), payload)


HEADER = {"alg": "EdDSA", "kid": "k1", "typ": "JWT"}


# --- RFC 8037 -----------------------------------------------------------------------------------


def test_rfc8037_appendix_a4_ed25519_signing() -> None:
    key = Ed25519PrivateKey.from_private_bytes(b64url_decode(RFC8037_D))
    assert TokenSigner("rfc8037", key).jwk()["x"] == RFC8037_X
    assert b64url_encode(RFC8037_HEADER) == "eyJhbGciOiJFZERTQSJ9"
    assert b64url_encode(RFC8037_PAYLOAD) == "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    # Ed25519 is deterministic (RFC 8032 §5.1.6), so the signature must be the RFC's exactly.
    assert sign_compact(key, RFC8037_HEADER, RFC8037_PAYLOAD) == RFC8037_JWS
    header, payload, signature = RFC8037_JWS.split(".")
    public = Ed25519PublicKey.from_public_bytes(b64url_decode(RFC8037_X))
    public.verify(b64url_decode(signature), f"{header}.{payload}".encode())


def test_rfc8037_key_signs_tokens_that_verify_with_its_published_jwk() -> None:
    key = Ed25519PrivateKey.from_private_bytes(b64url_decode(RFC8037_D))
    published = {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "kid": "rfc8037"}
    token = TokenSigner("rfc8037", key).sign(claims())
    verified = TokenVerifier(jwks([published])).verify(
        token, issuer=ISSUER, audience=AUDIENCE, now=NOW
    )
    assert verified == claims()


# --- encoding -----------------------------------------------------------------------------------


@given(st.binary(max_size=100))
def test_base64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text
    assert "+" not in text
    assert "/" not in text
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text", ["QQ==", "QQ=", "Q", "QR", "a+b/", "a b", "QUJD\n", "é", "QUJDRA=="]
)
def test_base64url_decode_is_strict(text: str) -> None:
    with pytest.raises(TokenError) as caught:
        b64url_decode(text)
    assert caught.value.reason == "malformed"


def test_canonical_json() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'.encode()
    with pytest.raises(ValueError, match="JSON"):
        canonical_json({"exp": float("nan")})


# --- signing and the key set --------------------------------------------------------------------


def test_round_trip_and_serialisation() -> None:
    token = SIGNER.sign(claims(aud=[AUDIENCE, "other"]))
    header, payload, signature = token.split(".")
    assert b64url_decode(header) == b'{"alg":"EdDSA","kid":"k1","typ":"JWT"}'
    assert b64url_decode(payload) == canonical_json(claims(aud=[AUDIENCE, "other"]))
    assert len(b64url_decode(signature)) == 64
    assert VERIFIER.verify(token, issuer=ISSUER, audience=AUDIENCE, now=NOW) == claims(
        aud=[AUDIENCE, "other"]
    )
    assert VERIFIER.verify(token, issuer=ISSUER, audience="other", now=NOW)["sub"] == "citizen-1"


def test_jwk_and_jwks() -> None:
    jwk = SIGNER.jwk()
    assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}
    assert (jwk["kty"], jwk["crv"], jwk["kid"], jwk["use"], jwk["alg"]) == (
        "OKP",
        "Ed25519",
        "k1",
        "sig",
        "EdDSA",
    )
    assert len(b64url_decode(jwk["x"])) == 32
    assert jwks([jwk, OTHER.jwk()]) == {"keys": [jwk, OTHER.jwk()]}
    json.dumps(jwks([jwk]))  # publishable as it is
    with pytest.raises(ValueError, match="private"):
        jwks([{**jwk, "d": RFC8037_D}])


def test_signer_repr_shows_only_the_kid() -> None:
    key = Ed25519PrivateKey.from_private_bytes(b64url_decode(RFC8037_D))
    assert repr(TokenSigner("k9", key)) == "TokenSigner(kid='k9')"
    with pytest.raises(ValueError, match="kid"):
        TokenSigner("", key)


def test_several_keys_for_rotation() -> None:
    verifier = TokenVerifier(jwks([SIGNER.jwk(), OTHER.jwk()]))
    for signer in (SIGNER, OTHER):
        assert (
            verifier.verify(signer.sign(claims()), issuer=ISSUER, audience=AUDIENCE, now=NOW)
            == claims()
        )


def test_other_key_types_in_the_set_are_ignored() -> None:
    rsa = {"kty": "RSA", "kid": "r1", "n": "AQAB", "e": "AQAB"}
    encryption = {**OTHER.jwk(), "use": "enc"}
    verifier = TokenVerifier({"keys": [rsa, encryption, SIGNER.jwk()]})
    assert (
        verifier.verify(SIGNER.sign(claims()), issuer=ISSUER, audience=AUDIENCE, now=NOW)
        == claims()
    )
    with pytest.raises(TokenError) as caught:
        verifier.verify(OTHER.sign(claims()), issuer=ISSUER, audience=AUDIENCE, now=NOW)
    assert caught.value.reason == "unknown_key"


@pytest.mark.parametrize(
    ("key_set", "message"),
    [
        ({}, "keys"),
        ({"keys": "k1"}, "keys"),
        ({"keys": ["k1"]}, "object"),
        ({"keys": [{**SIGNER.jwk(), "d": RFC8037_D}]}, "private"),
        ({"keys": [SIGNER.jwk(), SIGNER.jwk()]}, "duplicate"),
        ({"keys": [{**SIGNER.jwk(), "kid": ""}]}, "kid"),
        ({"keys": [{**SIGNER.jwk(), "x": "AAAA"}]}, "Ed25519"),
        ({"keys": [{**SIGNER.jwk(), "x": "A+A"}]}, "malformed"),
        ({"keys": [{k: v for k, v in SIGNER.jwk().items() if k != "x"}]}, '"x"'),
    ],
)
def test_malformed_key_sets_are_configuration_errors(
    key_set: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        TokenVerifier(key_set)
    assert not isinstance(caught.value, TokenError)
    assert RFC8037_D not in str(caught.value)


# --- refusals -----------------------------------------------------------------------------------


def test_tampered_payload() -> None:
    header, _, signature = SIGNER.sign(claims()).split(".")
    payload = b64url_encode(canonical_json(claims(sub="citizen-2")))
    assert refused(f"{header}.{payload}.{signature}") == "signature"


@pytest.mark.parametrize(
    "alg", ["none", "None", "NONE", "HS256", "RS256", "ES256", "Ed25519", "eddsa", ""]
)
def test_every_other_algorithm_is_refused(alg: str) -> None:
    header = b64url_encode(canonical_json({**HEADER, "alg": alg}))
    _, payload, signature = SIGNER.sign(claims()).split(".")
    assert refused(f"{header}.{payload}.{signature}") == "algorithm"
    assert refused(f"{header}.{payload}.") == "algorithm"


def test_alg_none_and_missing_alg() -> None:
    payload = b64url_encode(canonical_json(claims()))
    header = b64url_encode(b'{"alg":"none","typ":"JWT"}')
    assert refused(f"{header}.{payload}.") == "algorithm"
    assert refused(forged({"kid": "k1"}, canonical_json(claims()))) == "algorithm"


def test_hs256_keyed_with_the_public_key_is_refused() -> None:
    """The classic key-confusion forgery (RFC 8725 §2.1): HMAC keyed with the published key."""
    header = b64url_encode(canonical_json({**HEADER, "alg": "HS256"}))
    payload = b64url_encode(canonical_json(claims(sub="attacker")))
    signing_input = f"{header}.{payload}".encode()
    for key in (SIGNER.jwk()["x"].encode(), b64url_decode(SIGNER.jwk()["x"])):
        mac = b64url_encode(hmac.new(key, signing_input, hashlib.sha256).digest())
        assert refused(f"{header}.{payload}.{mac}") == "algorithm"


def test_wrong_key_under_a_known_kid() -> None:
    impostor = TokenSigner("k1", Ed25519PrivateKey.generate())
    assert refused(impostor.sign(claims())) == "signature"


@pytest.mark.parametrize("kid", [None, "k2", "", 1, ["k1"]])
def test_unknown_or_missing_kid(kid: object) -> None:
    header = {**HEADER, "kid": kid} if kid is not None else {"alg": "EdDSA", "typ": "JWT"}
    assert refused(forged(header, canonical_json(claims()))) == "unknown_key"
    if kid == "k2":
        assert refused(OTHER.sign(claims())) == "unknown_key"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({**HEADER, "crit": ["exp"]}, "malformed"),
        ({**HEADER, "typ": "at+jwt"}, "malformed"),
        ({**HEADER, "typ": 1}, "malformed"),
        ({"alg": "EdDSA", "kid": "k1"}, None),  # typ is optional
        ({**HEADER, "typ": "jwt"}, None),  # media types compare case-insensitively
    ],
)
def test_header_parameters(header: dict[str, object], reason: str | None) -> None:
    token = forged(header, canonical_json(claims()))
    if reason is None:
        assert VERIFIER.verify(token, issuer=ISSUER, audience=AUDIENCE, now=NOW) == claims()
    else:
        assert refused(token) == reason


def test_expiry_with_leeway() -> None:
    exp = NOW + timedelta(minutes=15)
    token = SIGNER.sign(claims())
    assert VERIFIER.verify(
        token, issuer=ISSUER, audience=AUDIENCE, now=exp + LEEWAY - timedelta(microseconds=1)
    )
    assert refused(token, now=exp + LEEWAY) == "expired"  # RFC 7519 §4.1.4: "on or after"
    assert refused(token, now=exp + timedelta(days=365)) == "expired"


def test_not_yet_valid() -> None:
    future = int((NOW + timedelta(minutes=5)).timestamp())
    assert refused(SIGNER.sign(claims(nbf=future))) == "not_yet_valid"
    assert refused(SIGNER.sign(claims(iat=future))) == "not_yet_valid"
    soon = int((NOW + LEEWAY).timestamp())
    assert VERIFIER.verify(
        SIGNER.sign(claims(nbf=soon, iat=soon)), issuer=ISSUER, audience=AUDIENCE, now=NOW
    )


@pytest.mark.parametrize(
    ("overrides", "audience", "reason"),
    [
        ({"aud": "https://elsewhere.test"}, AUDIENCE, "audience"),
        ({"aud": ["https://elsewhere.test", "other"]}, AUDIENCE, "audience"),
        ({"aud": []}, AUDIENCE, "audience"),
        ({"aud": None}, AUDIENCE, "audience"),  # no aud at all, but one was required
        ({}, None, "audience"),  # RFC 7519 §4.1.3: a named audience must be ours
        ({"aud": 7}, AUDIENCE, "malformed"),
        ({"aud": [AUDIENCE, 7]}, AUDIENCE, "malformed"),
    ],
)
def test_audience(overrides: dict[str, object], audience: str | None, reason: str) -> None:
    assert refused(SIGNER.sign(claims(**overrides)), audience=audience) == reason


@pytest.mark.parametrize(
    "issuer",
    [None, "https://id.civitas.test/", "HTTPS://ID.CIVITAS.TEST", "civitas", 7, [ISSUER]],
)
def test_issuer_must_be_exactly_the_expected_one(issuer: object) -> None:
    # RFC 8725 §3.8: a key trusted for one issuer must not make another issuer's tokens valid.
    assert refused(SIGNER.sign(claims(iss=issuer))) == "issuer"


def test_expiry_left_to_the_issuer_still_needs_exp_and_checks_the_rest() -> None:
    late = NOW + timedelta(days=1)
    token = SIGNER.sign(claims())
    assert refused(token, now=late) == "expired"
    verified = VERIFIER.verify(
        token, issuer=ISSUER, audience=AUDIENCE, now=late, check_expiry=False
    )
    assert verified == claims()
    for bad, reason in (
        (SIGNER.sign(claims(exp=None)), "malformed"),
        (SIGNER.sign(claims(iss="other")), "issuer"),
        (SIGNER.sign(claims(aud="other")), "audience"),
        (OTHER.sign(claims()), "unknown_key"),
    ):
        with pytest.raises(TokenError) as caught:
            VERIFIER.verify(bad, issuer=ISSUER, audience=AUDIENCE, now=late, check_expiry=False)
        assert caught.value.reason == reason


def test_no_audience_on_either_side_is_accepted() -> None:
    token = SIGNER.sign(claims(aud=None))
    assert "aud" not in VERIFIER.verify(token, issuer=ISSUER, audience=None, now=NOW)


@pytest.mark.parametrize(
    "payload",
    [
        canonical_json(claims(exp=None)),  # Civitas issues no everlasting tokens
        canonical_json(claims(exp="2030-01-01")),
        canonical_json(claims(exp=True)),
        canonical_json(claims(nbf=[1])),
        b'{"exp":1e400,"aud":"https://portal.civitas.test"}',  # parses as infinity
        b'{"exp":NaN,"aud":"https://portal.civitas.test"}',
        b'{"exp":1,"exp":99999999999,"aud":"https://portal.civitas.test"}',  # duplicate member
        b"[1, 2]",
        b"null",
        b"",
        b"Example of Ed25519 signing",
        b"\xff\xfe{}",
        '{"exp":99999999999}'.encode("utf-16"),  # JSON must be UTF-8 (RFC 7519 §7.2)
        b"[" * 2900 + b"]" * 2900,  # deeper than the JSON parser's recursion limit
    ],
)
def test_malformed_claims_behind_a_valid_signature(payload: bytes) -> None:
    assert refused(forged(HEADER, payload)) == "malformed"


def test_huge_numeric_dates_do_not_overflow() -> None:
    far = forged(
        HEADER,
        b'{"iss":"https://id.civitas.test","aud":"https://portal.civitas.test","exp":1'
        + b"0" * 400
        + b"}",
    )
    assert VERIFIER.verify(far, issuer=ISSUER, audience=AUDIENCE, now=NOW)["exp"] == 10**400
    past = forged(HEADER, b'{"aud":"https://portal.civitas.test","exp":-1' + b"0" * 400 + b"}")
    assert refused(past) == "expired"


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d.e",  # JWE compact serialisation
        SIGNER.sign(claims()) + ".",
        SIGNER.sign(claims()) + "=",
        " " + SIGNER.sign(claims()),
        SIGNER.sign(claims()).replace(".", "é", 1),
        "x" * (MAX_TOKEN_LENGTH + 1),
        SIGNER.sign(claims(pad="x" * MAX_TOKEN_LENGTH)),
    ],
)
def test_malformed_tokens(token: str) -> None:
    assert refused(token) == "malformed"


def test_signature_of_the_wrong_length() -> None:
    header, payload, signature = SIGNER.sign(claims()).split(".")
    short = b64url_encode(b64url_decode(signature)[:63])
    assert refused(f"{header}.{payload}.{short}") == "signature"


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone") as caught:
        VERIFIER.verify(
            SIGNER.sign(claims()), issuer=ISSUER, audience=AUDIENCE, now=datetime(2026, 11, 23)
        )
    assert not isinstance(caught.value, TokenError)


def test_errors_never_quote_the_token() -> None:
    token = SIGNER.sign(claims())
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BA")
    for bad, now in ((tampered, NOW), (token, NOW + timedelta(days=1)), (token + "x", NOW)):
        with pytest.raises(TokenError) as caught:
            VERIFIER.verify(bad, issuer=ISSUER, audience=AUDIENCE, now=now)
        for segment in bad.split("."):
            assert segment not in str(caught.value)
            assert segment not in repr(caught.value)


# --- properties ---------------------------------------------------------------------------------

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=4,
)


@given(st.text(max_size=300))
def test_garbage_text_raises_only_token_error(token: str) -> None:
    with pytest.raises(TokenError):
        VERIFIER.verify(token, issuer=ISSUER, audience=AUDIENCE, now=NOW)


@given(st.lists(st.text(alphabet=B64URL, max_size=120), min_size=1, max_size=6))
def test_garbage_segments_raise_only_token_error(segments: list[str]) -> None:
    with pytest.raises(TokenError):
        VERIFIER.verify(".".join(segments), issuer=ISSUER, audience=AUDIENCE, now=NOW)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), st.binary(max_size=64))
def test_garbage_headers_and_signatures_raise_only_token_error(
    header: dict[str, object], signature: bytes
) -> None:
    _, payload, _ = SIGNER.sign(claims()).split(".")
    token = f"{b64url_encode(canonical_json(header))}.{payload}.{b64url_encode(signature)}"
    with pytest.raises(TokenError):
        VERIFIER.verify(token, issuer=ISSUER, audience=AUDIENCE, now=NOW)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6), st.booleans())
def test_any_signed_claims_verify_or_raise_only_token_error(
    payload: dict[str, object], audience: bool
) -> None:
    token = SIGNER.sign(payload)
    try:
        verified = VERIFIER.verify(
            token, issuer=ISSUER, audience=AUDIENCE if audience else None, now=NOW
        )
    except TokenError:
        return
    assert verified == payload


@given(st.data())
def test_any_one_character_change_is_refused(data: st.DataObject) -> None:
    token = SIGNER.sign(claims())
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.sampled_from(B64URL + ".").filter(lambda c: c != token[position]))
    mutated = token[:position] + replacement + token[position + 1 :]
    with pytest.raises(TokenError):
        VERIFIER.verify(mutated, issuer=ISSUER, audience=AUDIENCE, now=NOW)
