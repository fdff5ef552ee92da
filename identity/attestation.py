"""Attestation trust: which passkeys prove they were made by an authenticator model the operator
trusts, the only passkeys that may reach AAL3 (NIST SP 800-63B section 4.3: an AAL3 authenticator
is hardware whose key cannot be exported, which only an attestation chaining to the maker's root
can show; a software or synced passkey, or one that attests itself, says so about itself only).

The operator's allow-list is a JSON file in the shape of a FIDO Metadata Service (MDS3) BLOB's
payload, so the decoded body of a BLOB the operator has downloaded and checked can be used as it
is, and a hand-written list needs only the fields read here:

    {"entries": [{"aaguid": "<8-4-4-4-12 hex>",
                  "metadataStatement": {"description": "...",
                                        "attestationRootCertificates": ["<base64 DER>", ...]},
                  "statusReports": [{"status": "FIDO_CERTIFIED_L1"}, ...]}]}

An entry whose status reports name a compromise (FIDO MDS3 section 3.1.4) is left out. A BLOB
still in its JWT form is refused: its signature is the operator's to check, with FIDO's root,
before the list is trusted.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

# FIDO MDS3 section 3.1.4, AuthenticatorStatus: the reports after which no attestation of the
# model is evidence of anything.
COMPROMISED_STATUSES = frozenset(
    {
        "REVOKED",
        "USER_VERIFICATION_BYPASS",
        "ATTESTATION_KEY_COMPROMISE",
        "USER_KEY_REMOTE_COMPROMISE",
        "USER_KEY_PHYSICAL_COMPROMISE",
    }
)
# WebAuthn L3 section 8.2.1: id-fido-gen-ce-aaguid, the AAGUID an attestation certificate is for.
AAGUID_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")
_NO_AAGUID = str(uuid.UUID(int=0))


class TrustListError(ValueError):
    """The allow-list cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class TrustedModel:
    aaguid: str  # canonical lower-case 8-4-4-4-12
    description: str
    roots: tuple[bytes, ...]  # PEM certificates, as py_webauthn takes them


@dataclass(frozen=True)
class TrustAnchors:
    """The authenticator models whose attestations the operator trusts, by AAGUID."""

    models: Mapping[str, TrustedModel] = field(default_factory=lambda: MappingProxyType({}))

    def __bool__(self) -> bool:
        return bool(self.models)

    def roots_for(self, aaguid: str) -> tuple[bytes, ...]:
        model = self.models.get(aaguid.lower())
        return model.roots if model is not None else ()


NO_TRUST = TrustAnchors()


def load_trust_anchors(text: str) -> TrustAnchors:
    """The allow-list from the JSON text of the operator's file (see the module's docstring)."""
    if text.strip().count(".") == 2 and not text.lstrip().startswith("{"):
        raise TrustListError(
            "this is a FIDO MDS3 BLOB in its JWT form: verify its signature and give its payload"
        )
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise TrustListError(f"not JSON: {exc}") from None
    entries = document.get("entries") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise TrustListError('the file needs an "entries" list')
    models: dict[str, TrustedModel] = {}
    for index, entry in enumerate(entries):
        model = _model(entry, f"entries[{index}]")
        if model is not None:
            models[model.aaguid] = model
    return TrustAnchors(MappingProxyType(models))


def _model(entry: object, where: str) -> TrustedModel | None:
    if not isinstance(entry, dict):
        raise TrustListError(f"{where} is not an object")
    aaguid = entry.get("aaguid")
    if not isinstance(aaguid, str):
        return None  # a U2F or UAF entry (aaid, attestationCertificateKeyIdentifiers): no passkey
    try:
        canonical = str(uuid.UUID(aaguid))
    except ValueError:
        raise TrustListError(f"{where}.aaguid is not an AAGUID") from None
    if canonical == _NO_AAGUID:
        raise TrustListError(f"{where}.aaguid is all zeros, which names no model")
    if _compromised(entry.get("statusReports", [])):
        return None
    statement = entry.get("metadataStatement")
    if not isinstance(statement, dict):
        raise TrustListError(f"{where}.metadataStatement is missing")
    roots = statement.get("attestationRootCertificates")
    if not isinstance(roots, list) or not roots:
        raise TrustListError(f"{where}.metadataStatement.attestationRootCertificates is empty")
    description = statement.get("description", "")
    where_roots = f"{where}.metadataStatement.attestationRootCertificates"
    return TrustedModel(
        canonical,
        description if isinstance(description, str) else "",
        tuple(_pem(root, where_roots) for root in roots),
    )


def _compromised(reports: object) -> bool:
    if not isinstance(reports, list):
        return False
    return any(isinstance(r, dict) and r.get("status") in COMPROMISED_STATUSES for r in reports)


def _pem(root: object, where: str) -> bytes:
    """MDS3 gives base64 DER; a PEM block is taken too, for a hand-written list."""
    if not isinstance(root, str):
        raise TrustListError(f"{where}: a certificate is not a string")
    try:
        if "-----BEGIN CERTIFICATE-----" in root:
            certificate = x509.load_pem_x509_certificate(root.encode("ascii"))
        else:
            certificate = x509.load_der_x509_certificate(base64.b64decode(root, validate=True))
    except (ValueError, binascii.Error):
        raise TrustListError(f"{where}: a certificate cannot be read") from None
    return certificate.public_bytes(Encoding.PEM)


def certificate_aaguid(der: bytes) -> str | None:
    """The AAGUID an attestation certificate names (section 8.2.1), or None when it names none."""
    try:
        certificate = x509.load_der_x509_certificate(der)
        extension = certificate.extensions.get_extension_for_oid(AAGUID_EXTENSION)
    except (ValueError, x509.ExtensionNotFound):
        return None
    value = extension.value
    raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    # The extension's value is an OCTET STRING holding the 16 AAGUID bytes.
    if len(raw) != 18 or raw[:2] != b"\x04\x10":
        return ""
    return str(uuid.UUID(bytes=raw[2:]))
