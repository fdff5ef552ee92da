"""Passkeys: W3C WebAuthn Level 3 ceremonies, verified by py_webauthn, in the standard JSON forms.

Options go out as ``PublicKeyCredentialCreationOptionsJSON`` / ``...RequestOptionsJSON`` and
responses come back as ``RegistrationResponseJSON`` / ``AuthenticationResponseJSON`` (the WebAuthn
L3 JSON serializations), so a browser's ``PublicKeyCredential.parseCreationOptionsFromJSON()`` and
``credential.toJSON()`` talk to these functions unchanged.

py_webauthn does the cryptography. Before it runs, each ceremony repeats the spec's checks on the
client data and authenticator data itself (§7.1, §7.2), for two reasons: every failure gets a
stable `PasskeyError.reason` without reading py_webauthn's message text, and anything py_webauthn
throws on hostile input (a `KeyError` in a COSE key, a `ValueError` from base64) is caught at one
place and reported as ``"malformed"``.

The signature counter is checked here, after the signature has verified (the order of §7.2).
py_webauthn compares counters before it checks the signature, so an unsigned response with a low
counter would be reported as a possible clone; a caller that suspends cloned credentials would
then let anyone lock a citizen out.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import (
    decode_credential_public_key,
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AttestationFormat,
    AttestationObject,
    AuthenticationCredential,
    AuthenticatorData,
    AuthenticatorSelectionCriteria,
    ClientDataType,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    TokenBindingStatus,
    UserVerificationRequirement,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from identity import base64url
from identity.attestation import NO_TRUST, TrustAnchors, certificate_aaguid

Reason = Literal[
    "malformed",
    "challenge",
    "origin",
    "rp_id",
    "signature",
    "user_verification",
    "sign_count_regressed",
    "unknown_credential",
]

# Five minutes: the L3 §15.1 recommended range for a ceremony that may need a PIN or a phone.
TIMEOUT_MS = 300_000
# In order of preference; the browser picks the first its authenticator supports.
SUPPORTED_ALGORITHMS = (
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
)
# §13.4.3: challenges need at least 16 random bytes; a shorter expected challenge is a caller bug
# (an empty one would accept any response that also carries an empty challenge).
MIN_CHALLENGE_BYTES = 16
# §4, "user handle": at most 64 bytes.
MAX_USER_ID_BYTES = 64
# §7.1 (L3): registrations with a longer credential id are rejected.
MAX_CREDENTIAL_ID_BYTES = 1023
# §6.1 authenticator data: rpIdHash (32) || flags (1) || signCount (4, big-endian) || ...
_SIGN_COUNT_BYTES = slice(33, 37)
_TOKEN_BINDING_STATUSES = (TokenBindingStatus.PRESENT, TokenBindingStatus.SUPPORTED)


class PasskeyError(ValueError):
    """A ceremony failed; `reason` says which check, the message says it for people.

    Messages are fixed strings: they never echo challenges, keys or the client's own values.
    """

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


@dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    origins: tuple[str, ...]


@dataclass(frozen=True)
class RegisteredPasskey:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    user_verified: bool
    # True for a backup-eligible (multi-device, syncable) credential, False for a device-bound one.
    # This is the BE flag rather than BS: a BE credential that is not backed up yet can be synced
    # tomorrow without a new ceremony, so only BE=0 promises the key stays on one device.
    backed_up: bool
    attestation_format: str
    # The attestation chains to a root the operator trusts for this AAGUID (identity.attestation):
    # a hardware model it knows, not a key that vouches for itself.
    attested: bool = False


@dataclass(frozen=True)
class PasskeyAssertion:
    credential_id: bytes
    new_sign_count: int
    user_verified: bool
    user_handle: bytes | None = None


# --- options ---------------------------------------------------------------------------------


def registration_options(
    rp: RelyingParty,
    user_id: bytes,
    user_name: str,
    display_name: str,
    exclude_credential_ids: Sequence[bytes] = (),
    *,
    attestation: bool = False,
) -> tuple[str, bytes]:
    """PublicKeyCredentialCreationOptions as JSON (py_webauthn options_to_json), and its challenge.

    The options always ask for user verification; `verify_registration` decides whether to insist.
    `attestation` asks for `direct` attestation, where an attested passkey can earn more (AAL3);
    otherwise `none`, so the browser does not ask the citizen to reveal their authenticator's make.
    """
    # py_webauthn silently invents a random user handle for an empty one, which would bind the
    # passkey to nobody; refuse instead.
    if not 1 <= len(user_id) <= MAX_USER_ID_BYTES:
        raise ValueError(f"user_id must be 1 to {MAX_USER_ID_BYTES} bytes")
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_id,
        user_name=user_name,
        user_display_name=display_name,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=cid) for cid in exclude_credential_ids
        ],
        supported_pub_key_algs=list(SUPPORTED_ALGORITHMS),
        attestation=AttestationConveyancePreference.DIRECT
        if attestation
        else AttestationConveyancePreference.NONE,
    )
    return options_to_json(options), options.challenge


def authentication_options(
    rp: RelyingParty,
    allow_credential_ids: Sequence[bytes],
    *,
    require_user_verification: bool = False,
) -> tuple[str, bytes]:
    """PublicKeyCredentialRequestOptions as JSON, and its challenge.

    An empty `allow_credential_ids` asks for a discoverable credential (username-less sign-in).
    """
    options = generate_authentication_options(
        rp_id=rp.id,
        timeout=TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in allow_credential_ids],
        user_verification=UserVerificationRequirement.REQUIRED
        if require_user_verification
        else UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options), options.challenge


# --- registration (§7.1) ---------------------------------------------------------------------


def verify_registration(
    rp: RelyingParty,
    credential_json: str,
    expected_challenge: bytes,
    *,
    require_user_verification: bool = True,
    trust: TrustAnchors = NO_TRUST,
) -> RegisteredPasskey:
    """Verify a RegistrationResponseJSON; return what must be stored to authenticate later.

    `attested` is set only when the attestation chains to a root that `trust` lists for the
    AAGUID the authenticator data names; an untrusted or self attestation still registers.
    """
    document = _json_object(credential_json)
    raw_id = _credential_id(document)
    credential = _registration_credential(document)
    _check_client_data(
        rp, credential.response.client_data_json, ClientDataType.WEBAUTHN_CREATE, expected_challenge
    )
    attestation = _attestation_object(credential.response.attestation_object)
    _check_authenticator_data(rp, attestation.auth_data, require_user_verification)
    _check_attested_credential(attestation.auth_data, raw_id)
    verified, attested = _verify_attestation(
        rp, credential, attestation, expected_challenge, require_user_verification, trust
    )
    return RegisteredPasskey(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=tuple(t.value for t in credential.response.transports or ()),
        aaguid=verified.aaguid,
        user_verified=verified.user_verified,
        backed_up=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        # py_webauthn hands back the CBOR string itself, not always the enum it declares.
        attestation_format=AttestationFormat(attestation.fmt).value,
        attested=attested,
    )


def _registration_credential(document: dict[str, object]) -> RegistrationCredential:
    try:
        return parse_registration_credential_json(document)
    except Exception as exc:
        raise PasskeyError("malformed", "registration response is not valid") from exc


def _attestation_object(attestation_object: bytes) -> AttestationObject:
    try:
        parsed = parse_attestation_object(attestation_object)
    except Exception as exc:
        raise PasskeyError("malformed", "attestationObject is not valid") from exc
    # CBOR lets "fmt" be any value; py_webauthn's type says str but does not check it.
    fmt: object = parsed.fmt
    if not isinstance(fmt, str):
        raise PasskeyError("malformed", "attestationObject is not valid")
    return parsed


def _check_attested_credential(auth_data: AuthenticatorData, raw_id: bytes) -> None:
    """§7.1 (L3): a credential id the client agrees on, no longer than allowed, and a usable key."""
    attested = auth_data.attested_credential_data
    if attested is None:
        raise PasskeyError("malformed", "authenticator data carries no credential")
    if attested.credential_id != raw_id or len(raw_id) > MAX_CREDENTIAL_ID_BYTES:
        raise PasskeyError("malformed", "credential id does not match the authenticator data")
    try:
        algorithm = decode_credential_public_key(attested.credential_public_key).alg
    except Exception as exc:
        raise PasskeyError("malformed", "credential public key is not valid") from exc
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise PasskeyError("malformed", "credential public key algorithm is not supported")


def _verify_attestation(
    rp: RelyingParty,
    credential: RegistrationCredential,
    attestation: AttestationObject,
    expected_challenge: bytes,
    require_user_verification: bool,
    trust: TrustAnchors,
) -> tuple[VerifiedRegistration, bool]:
    """§7.1, attestation statement: py_webauthn verifies it for its format; and whether it is
    trustworthy (§7.1 step 24), which only a chain to a root listed for the AAGUID makes it.

    py_webauthn passes any certificate chain when it is given no roots, so a statement is first
    verified against the AAGUID's listed roots; one that fails there is verified again without
    them, and registers untrusted if its signature holds.
    """
    attested_data = attestation.auth_data.attested_credential_data
    aaguid = str(uuid.UUID(bytes=attested_data.aaguid)) if attested_data else ""
    x5c = attestation.att_stmt.x5c or []
    roots = trust.roots_for(aaguid) if x5c else ()
    check = functools.partial(
        _verify_registration_response,
        rp,
        credential,
        expected_challenge,
        require_user_verification,
        attestation.fmt,
    )
    if roots:
        with contextlib.suppress(Exception):  # judged again below, without the roots
            verified = check(roots)
            # §8.2.1: a certificate that names a model must name the one the data claims.
            return verified, certificate_aaguid(x5c[0]) in (None, aaguid)
    try:
        verified = check(())
    except InvalidRegistrationResponse as exc:
        # Every check with a reason of its own has passed above, so what is left is the
        # statement: a signature for the signing formats, stray content for "none".
        if attestation.fmt == AttestationFormat.NONE:
            raise PasskeyError("malformed", "attestation statement is not valid") from exc
        raise PasskeyError("signature", "attestation signature does not verify") from exc
    except Exception as exc:
        raise PasskeyError("malformed", "registration response is not valid") from exc
    return verified, False


def _verify_registration_response(
    rp: RelyingParty,
    credential: RegistrationCredential,
    expected_challenge: bytes,
    require_user_verification: bool,
    fmt: str,
    roots: Sequence[bytes],
) -> VerifiedRegistration:
    return verify_registration_response(
        credential=credential,
        expected_challenge=expected_challenge,
        expected_rp_id=rp.id,
        expected_origin=list(rp.origins),
        require_user_presence=True,
        require_user_verification=require_user_verification,
        supported_pub_key_algs=list(SUPPORTED_ALGORITHMS),
        pem_root_certs_bytes_by_fmt={AttestationFormat(fmt): list(roots)} if roots else None,
    )


# --- authentication (§7.2) -------------------------------------------------------------------


def verify_authentication(
    rp: RelyingParty,
    assertion_json: str,
    expected_challenge: bytes,
    credential_public_key: bytes,
    current_sign_count: int,
    *,
    require_user_verification: bool = False,
) -> PasskeyAssertion:
    """Verify an AuthenticationResponseJSON against the stored key and signature counter."""
    document = _json_object(assertion_json)
    raw_id = _credential_id(document)
    credential = _authentication_credential(document)
    response = credential.response
    _check_client_data(
        rp, response.client_data_json, ClientDataType.WEBAUTHN_GET, expected_challenge
    )
    _check_authenticator_data(
        rp, _authenticator_data(response.authenticator_data), require_user_verification
    )
    verified = _verify_assertion_signature(
        rp, credential, expected_challenge, credential_public_key, require_user_verification
    )
    new_sign_count = sign_count_of(response.authenticator_data)
    if sign_count_regressed(current_sign_count, new_sign_count):
        raise PasskeyError("sign_count_regressed", "signature counter did not increase")
    return PasskeyAssertion(
        credential_id=raw_id,
        new_sign_count=new_sign_count,
        user_verified=verified.user_verified,
        user_handle=response.user_handle or None,
    )


def credential_id_of(assertion_json: str) -> bytes:
    """The rawId of an assertion, to look the credential up before verifying it."""
    return _credential_id(_json_object(assertion_json))


def user_handle_of(assertion_json: str) -> bytes | None:
    """The userHandle of an assertion (§5.2.2), to find the citizen of a username-less sign-in
    before verifying it; None when the authenticator sent none."""
    response = _json_object(assertion_json).get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if handle is None or handle == "":
        return None
    if not isinstance(handle, str):
        raise PasskeyError("malformed", "userHandle is not a string")
    decoded = _base64url_decode(handle)
    if len(decoded) > MAX_USER_ID_BYTES:
        raise PasskeyError("malformed", "userHandle is too long")
    return decoded


def sign_count_of(authenticator_data: bytes) -> int:
    """The signature counter of authenticator data (§6.1: bytes 33-36, big-endian)."""
    if len(authenticator_data) < _SIGN_COUNT_BYTES.stop:
        raise PasskeyError("malformed", "authenticatorData is too short")
    return int.from_bytes(authenticator_data[_SIGN_COUNT_BYTES], "big")


def sign_count_regressed(stored: int, new: int) -> bool:
    """§6.1.1: a counter that did not grow means the credential may have been cloned.

    Both zero means the authenticator has no counter (most synced passkeys), which is no signal.
    """
    return (stored != 0 or new != 0) and new <= stored


def _authentication_credential(document: dict[str, object]) -> AuthenticationCredential:
    try:
        return parse_authentication_credential_json(document)
    except Exception as exc:
        raise PasskeyError("malformed", "authentication response is not valid") from exc


def _authenticator_data(authenticator_data: bytes) -> AuthenticatorData:
    try:
        return parse_authenticator_data(authenticator_data)
    except Exception as exc:
        raise PasskeyError("malformed", "authenticatorData is not valid") from exc


def _verify_assertion_signature(
    rp: RelyingParty,
    credential: AuthenticationCredential,
    expected_challenge: bytes,
    credential_public_key: bytes,
    require_user_verification: bool,
) -> VerifiedAuthentication:
    """§7.2, signature: py_webauthn verifies it over authData || SHA-256(clientDataJSON)."""
    try:
        return verify_authentication_response(
            credential=credential,
            expected_challenge=expected_challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=credential_public_key,
            # Zero switches py_webauthn's own counter comparison off (it can only fail when a
            # count is non-zero); the caller's count is compared once the signature holds.
            credential_current_sign_count=0,
            require_user_verification=require_user_verification,
        )
    except InvalidAuthenticationResponse as exc:
        raise PasskeyError("signature", "assertion signature does not verify") from exc
    except Exception as exc:
        raise PasskeyError("malformed", "authentication response is not valid") from exc


# --- checks shared by both ceremonies --------------------------------------------------------


def _check_client_data(
    rp: RelyingParty,
    client_data_json: bytes,
    expected_type: ClientDataType,
    expected_challenge: bytes,
) -> None:
    """§7.1 and §7.2 on clientDataJSON: type, challenge, origin, and no cross-origin use."""
    if len(expected_challenge) < MIN_CHALLENGE_BYTES:
        raise PasskeyError("challenge", "expected challenge is too short")
    try:
        client_data = parse_client_data_json(client_data_json)
    except Exception as exc:
        raise PasskeyError("malformed", "clientDataJSON is not valid") from exc
    if client_data.type != expected_type:
        raise PasskeyError("malformed", "clientDataJSON is for the other ceremony")
    if client_data.challenge != expected_challenge:
        raise PasskeyError("challenge", "challenge does not match")
    if client_data.origin not in rp.origins:
        raise PasskeyError("origin", "origin is not allowed")
    # L3, crossOrigin and topOrigin: Civitas pages are never framed by another site, so a
    # ceremony run inside a cross-origin iframe is someone else's page asking for our credential.
    if client_data.cross_origin:
        raise PasskeyError("origin", "cross-origin ceremonies are not allowed")
    # Token Binding left the spec in L3; py_webauthn still refuses unknown statuses, so refuse
    # them here, where the refusal is not mistaken for a bad signature.
    token_binding = client_data.token_binding
    if token_binding is not None and token_binding.status not in _TOKEN_BINDING_STATUSES:
        raise PasskeyError("malformed", "clientDataJSON has an unknown tokenBinding status")


def _check_authenticator_data(
    rp: RelyingParty, auth_data: AuthenticatorData, require_user_verification: bool
) -> None:
    """§7.1 and §7.2 on authenticatorData: RP id hash, then the UP and UV flags."""
    if auth_data.rp_id_hash != hashlib.sha256(rp.id.encode("utf-8")).digest():
        raise PasskeyError("rp_id", "credential is scoped to another relying party")
    # No presence means no gesture at all, the weakest form of the failure below.
    if not auth_data.flags.up:
        raise PasskeyError("user_verification", "user was not present")
    if require_user_verification and not auth_data.flags.uv:
        raise PasskeyError("user_verification", "user was not verified")


def _json_object(text: str) -> dict[str, object]:
    try:
        document: object = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError also covers integers too long to convert (CVE-2020-10735 limit).
        raise PasskeyError("malformed", "response is not JSON") from exc
    if not isinstance(document, dict):
        raise PasskeyError("malformed", "response is not a JSON object")
    return document


def _credential_id(document: dict[str, object]) -> bytes:
    """rawId, decoded strictly, and equal to id (§5.1: id is the base64url form of rawId).

    py_webauthn's base64url decoding skips characters outside the alphabet, so two different
    strings could name one credential; one canonical spelling keeps lookups unambiguous.
    """
    raw_id = document.get("rawId")
    if not isinstance(raw_id, str) or document.get("id") != raw_id:
        raise PasskeyError("malformed", "credential id is missing or inconsistent")
    credential_id = _base64url_decode(raw_id)
    if not 1 <= len(credential_id) <= MAX_CREDENTIAL_ID_BYTES:
        raise PasskeyError("malformed", "credential id has an invalid length")
    return credential_id


def _base64url_decode(text: str) -> bytes:
    """Strict (see `identity.base64url`): rawId comes from the wire and is the lookup key."""
    try:
        return base64url.decode(text)
    except base64url.Base64urlError as exc:
        raise PasskeyError("malformed", f"value is {exc}") from exc
