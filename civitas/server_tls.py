"""The server's TLS files, read and checked before anything else starts.

gRPC takes any bytes and fails later with no more than "cannot add port", which names neither
the file nor what is wrong with it; an operator needs both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from civitas.config import ConfigError, TlsFiles

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class ServerTls:
    """PEM bytes as gRPC's `ssl_server_credentials` takes them."""

    key: bytes
    certificate_chain: bytes
    client_ca: bytes | None


def read_server_tls(files: TlsFiles) -> ServerTls:
    chain = _read(files.cert, "--tls-cert")
    certificates = _certificates(chain, files.cert, "--tls-cert")
    key = _read(files.key, "--tls-key")
    private_key = _private_key(key, files.key)
    if private_key.public_key().public_bytes(*SPKI) != certificates[0].public_key().public_bytes(
        *SPKI
    ):
        raise ConfigError(
            f"--tls-key {files.key} is not the key of the certificate in {files.cert}"
        )
    client_ca = None
    if files.client_ca is not None:
        client_ca = _read(files.client_ca, "--client-ca")
        _certificates(client_ca, files.client_ca, "--client-ca")
    return ServerTls(key, chain, client_ca)


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{flag} {path}: cannot read it ({error.strerror})") from None


def _certificates(data: bytes, path: Path, flag: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigError(f"{flag} {path}: not a PEM certificate") from None


def _private_key(data: bytes, path: Path) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:  # gRPC cannot open an encrypted key either
        raise ConfigError(f"--tls-key {path}: the key is encrypted; give it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"--tls-key {path}: not a PEM private key") from None
