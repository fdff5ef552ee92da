"""A throwaway CA, server and client certificate for testing TLS and mTLS channels."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Pem:
    certificate: bytes
    key: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str, issuer: Pem | None, *, ca: bool, san: x509.GeneralName | None = None
) -> Pem:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    if issuer is None:
        issuer_name, issuer_key = _name(subject), key
    else:
        issuer_name = x509.load_pem_x509_certificate(issuer.certificate).subject
        issuer_key = serialization.load_pem_private_key(issuer.key, None)  # type: ignore[assignment]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([san]), critical=False)
    certificate = builder.sign(issuer_key, hashes.SHA256())
    return Pem(
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def make_pki() -> tuple[Pem, Pem, Pem]:
    """(CA, server certificate for 127.0.0.1, client certificate), all signed by the CA."""
    authority = _issue("test CA", None, ca=True)
    server = _issue(
        "127.0.0.1", authority, ca=False, san=x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    )
    client = _issue("auditor", authority, ca=False)
    return authority, server, client
