"""A software passkey authenticator and browser, for the demo and the tests: real bytes, real
signatures, no mocks. It keeps its keys in memory only, so it is no authenticator for real use.

It plays both halves a relying party never sees apart: the browser (which writes clientDataJSON
and the L3 JSON forms of the response) and a platform authenticator with EC P-256 (ES256) keys
(which writes authenticatorData and signs). py_webauthn therefore verifies exactly what it would
receive from a browser. Its attestation is "none" unless it is given an `AttestationKey` (a
"packed" statement with a certificate chain, as a hardware model ships with: see
`new_attestation_model`) or told to attest itself ("packed" without a chain).

References: WebAuthn L3 §5.8.1 (clientDataJSON), §6.1 (authenticator data), §6.5.1 (attested
credential data), §8.2 ("packed" attestation), §8.7 ("none" attestation), RFC 9052/9053 (COSE EC2
keys).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from identity import base64url

# §6.1 flags.
FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40
# A software authenticator has no certified model, so its AAGUID is all zeroes (§6.5.1).
AAGUID = bytes(16)
CREDENTIAL_ID_BYTES = 32
# RFC 9053 §7.1 / §2.1: kty EC2, alg ES256, crv P-256.
_COSE_KTY, _COSE_ALG, _COSE_CRV, _COSE_X, _COSE_Y = 1, 3, -1, -2, -3
_KTY_EC2, _ALG_ES256, _CRV_P256 = 2, -7, 1
# §8.2.1: id-fido-gen-ce-aaguid.
_AAGUID_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")


@dataclass(frozen=True)
class AttestationKey:
    """A model's batch attestation key and its certificate chain (DER, leaf first, without the
    root), which a hardware authenticator ships with."""

    aaguid: bytes
    private_key: ec.EllipticCurvePrivateKey
    chain: tuple[bytes, ...]


@dataclass(frozen=True)
class AttestationModel:
    """A made-up authenticator model: the root an operator would allow-list, and its key."""

    root_pem: bytes
    key: AttestationKey

    @property
    def aaguid(self) -> str:
        return str(uuid.UUID(bytes=self.key.aaguid))

    def trust_list_entry(self, description: str = "Civitas test key") -> dict[str, object]:
        """This model as an entry of the allow-list file (a FIDO MDS3 payload's entry)."""
        root = x509.load_pem_x509_certificate(self.root_pem)
        return {
            "aaguid": self.aaguid,
            "metadataStatement": {
                "description": description,
                "attestationRootCertificates": [
                    base64.b64encode(root.public_bytes(Encoding.DER)).decode("ascii")
                ],
            },
            "statusReports": [{"status": "FIDO_CERTIFIED_L1"}],
        }


def new_attestation_model(aaguid: bytes | None = None, *, name: str = "Soft") -> AttestationModel:
    """A root CA and one attestation certificate under it, with the §8.2.1 fields a "packed"
    attestation certificate carries (OU "Authenticator Attestation", the AAGUID extension,
    not a CA)."""
    aaguid = aaguid or secrets.token_bytes(16)
    now = datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Attestation Root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "EE"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{name} Authenticators"),
                    x509.NameAttribute(
                        NameOID.ORGANIZATIONAL_UNIT_NAME, "Authenticator Attestation"
                    ),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Batch 1"),
                ]
            )
        )
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(_AAGUID_EXTENSION, b"\x04\x10" + aaguid), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    return AttestationModel(
        root.public_bytes(Encoding.PEM),
        AttestationKey(aaguid, leaf_key, (leaf.public_bytes(Encoding.DER),)),
    )


@dataclass
class SoftCredential:
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


class SoftAuthenticator:
    """A platform authenticator behind a browser at `origin`.

    `rp_id` pins the RP id the authenticator scopes credentials to; by default it follows the
    options, as a browser does. `create` and `get` take `origin` and `rp_id` per call, to play a
    phishing page or a misconfigured relying party.
    """

    def __init__(
        self,
        origin: str,
        rp_id: str | None = None,
        *,
        user_verified: bool = True,
        backed_up: bool = False,
        user_present: bool = True,
        attestation: AttestationKey | None = None,
        self_attested: bool = False,
    ) -> None:
        self.origin = origin
        self.attestation = attestation
        self.self_attested = self_attested
        self.rp_id = rp_id
        self.user_verified = user_verified
        self.backed_up = backed_up
        self.user_present = user_present
        self.credentials: dict[bytes, SoftCredential] = {}

    # --- navigator.credentials.create() ----------------------------------------------------

    def create(
        self, options_json: str, *, origin: str | None = None, rp_id: str | None = None
    ) -> str:
        """A RegistrationResponseJSON for PublicKeyCredentialCreationOptionsJSON."""
        options = _object(json.loads(options_json))
        origin = origin or self.origin
        rp_options = _object(options.get("rp", {}))
        rp_id = rp_id or self.rp_id or _optional_str(rp_options.get("id")) or _host(origin)
        # Options arrive over the wire: decoded strictly, as the server's own parsers do.
        user = _object(options["user"])
        credential_id = secrets.token_bytes(CREDENTIAL_ID_BYTES)
        credential = SoftCredential(
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=base64url.decode(_str(user["id"])),
        )
        self.credentials[credential_id] = credential
        client_data = client_data_json("webauthn.create", _str(options["challenge"]), origin)
        auth_data = self._authenticator_data(
            rp_id, credential.sign_count, attested=True
        ) + attested_credential_data(
            credential_id,
            credential.private_key.public_key(),
            self.attestation.aaguid if self.attestation else AAGUID,
        )
        attestation_object = cbor2.dumps(
            self._attestation_statement(auth_data, client_data, credential.private_key)
        )
        return json.dumps(
            {
                "id": base64url.encode(credential_id),
                "rawId": base64url.encode(credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": base64url.encode(client_data),
                    "attestationObject": base64url.encode(attestation_object),
                    "transports": ["internal"],
                },
                "clientExtensionResults": {},
                "authenticatorAttachment": "platform",
            }
        )

    # --- navigator.credentials.get() -------------------------------------------------------

    def get(
        self,
        options_json: str,
        credential_id: bytes | None = None,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
    ) -> str:
        """An AuthenticationResponseJSON, signed with ES256; the counter goes up by one."""
        options = _object(json.loads(options_json))
        origin = origin or self.origin
        rp_id = rp_id or self.rp_id or _optional_str(options.get("rpId")) or _host(origin)
        if credential_id is None:
            credential_id = self._choose_credential(options, rp_id)
        credential = self.credentials[credential_id]
        credential.sign_count += 1
        client_data = client_data_json("webauthn.get", _str(options["challenge"]), origin)
        auth_data = self._authenticator_data(rp_id, credential.sign_count, attested=False)
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return json.dumps(
            {
                "id": base64url.encode(credential_id),
                "rawId": base64url.encode(credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": base64url.encode(client_data),
                    "authenticatorData": base64url.encode(auth_data),
                    "signature": base64url.encode(signature),
                    "userHandle": base64url.encode(credential.user_handle),
                },
                "clientExtensionResults": {},
                "authenticatorAttachment": "platform",
            }
        )

    def _attestation_statement(
        self, auth_data: bytes, client_data: bytes, credential_key: ec.EllipticCurvePrivateKey
    ) -> dict[str, object]:
        """§8.2: "packed" signs authData || SHA-256(clientDataJSON) with the attestation key (and
        sends its chain), or with the credential's own key (self attestation); else "none"."""
        signed = auth_data + hashlib.sha256(client_data).digest()
        if self.attestation is not None:
            signature = self.attestation.private_key.sign(signed, ec.ECDSA(hashes.SHA256()))
            statement = {"alg": _ALG_ES256, "sig": signature, "x5c": list(self.attestation.chain)}
            return {"fmt": "packed", "attStmt": statement, "authData": auth_data}
        if self.self_attested:
            signature = credential_key.sign(signed, ec.ECDSA(hashes.SHA256()))
            statement = {"alg": _ALG_ES256, "sig": signature}
            return {"fmt": "packed", "attStmt": statement, "authData": auth_data}
        return {"fmt": "none", "attStmt": {}, "authData": auth_data}

    def set_sign_count(self, credential_id: bytes, sign_count: int) -> None:
        """Wind the counter, as a clone of the authenticator taken earlier would have it."""
        self.credentials[credential_id].sign_count = sign_count

    def sign_count(self, credential_id: bytes) -> int:
        return self.credentials[credential_id].sign_count

    def _choose_credential(self, options: dict[str, object], rp_id: str) -> bytes:
        """The first allowed credential held here, or any for the RP when none are listed."""
        allowed = [
            base64url.decode(_str(_object(descriptor)["id"]))
            for descriptor in _list(options.get("allowCredentials", []))
        ]
        for credential_id, credential in self.credentials.items():
            if credential_id in allowed or (not allowed and credential.rp_id == rp_id):
                return credential_id
        raise LookupError("no credential for these options")

    def _authenticator_data(self, rp_id: str, sign_count: int, *, attested: bool) -> bytes:
        """rpIdHash || flags || signCount, before any attested credential data (§6.1)."""
        flags = FLAG_UP if self.user_present else 0
        if self.user_verified:
            flags |= FLAG_UV
        if self.backed_up:
            flags |= FLAG_BE | FLAG_BS
        if attested:
            flags |= FLAG_AT
        return (
            hashlib.sha256(rp_id.encode("utf-8")).digest()
            + bytes([flags])
            + sign_count.to_bytes(4, "big")
        )


def client_data_json(ceremony: str, challenge: str, origin: str) -> bytes:
    """§5.8.1.1: the browser's serialization, key order and all, with crossOrigin false."""
    return json.dumps(
        {"type": ceremony, "challenge": challenge, "origin": origin, "crossOrigin": False},
        separators=(",", ":"),
    ).encode("utf-8")


def attested_credential_data(
    credential_id: bytes, public_key: ec.EllipticCurvePublicKey, aaguid: bytes = AAGUID
) -> bytes:
    """§6.5.1: AAGUID || credentialIdLength (u16) || credentialId || COSE public key."""
    return (
        aaguid
        + len(credential_id).to_bytes(2, "big")
        + credential_id
        + cose_ec2_public_key(public_key)
    )


def cose_ec2_public_key(public_key: ec.EllipticCurvePublicKey) -> bytes:
    numbers = public_key.public_numbers()
    return cbor2.dumps(
        {
            _COSE_KTY: _KTY_EC2,
            _COSE_ALG: _ALG_ES256,
            _COSE_CRV: _CRV_P256,
            _COSE_X: numbers.x.to_bytes(32, "big"),
            _COSE_Y: numbers.y.to_bytes(32, "big"),
        }
    )


def _host(origin: str) -> str:
    """The browser's default RP id: the origin's effective domain (§5.1.3, §5.1.4)."""
    return urlsplit(origin).hostname or ""


def _object(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise TypeError("expected a JSON object")
    return value


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError("expected a JSON array")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a JSON string")
    return value


def _optional_str(value: object) -> str | None:
    return None if value is None else _str(value)
