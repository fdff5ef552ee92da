"""What the portal needs to run: where Civitas is, how to reach it, and where to listen."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CivitasTls:
    """TLS to Civitas: the CA of its certificate and, for mTLS, the portal's own (PEM files)."""

    ca_cert: Path
    client_cert: Path | None = None
    client_key: Path | None = None


@dataclass(frozen=True)
class PortalConfig:
    target: str  # Civitas' gRPC HOST:PORT
    api_key: str | None  # the portal's service account (relying-service); None under mTLS
    civitas_tls: CivitasTls | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    # The portal's own HTTPS: a certificate and key; without them it serves plain HTTP, which
    # browsers treat as secure on localhost only (the cookie is `Secure` either way).
    https_cert: Path | None = None
    https_key: Path | None = None
    # The ledger's checkpoint key as its operator publishes it (`civitas keys show`): the
    # in-browser check pins it, else it proves a receipt only against its own keyring.
    checkpoint_key: str = ""
    # Witnesses whose cosignatures the in-browser check verifies (cosignature/v1 note verifier
    # keys, docs/ledger-format.md section 4): a receipt's line naming one must verify.
    witness_keys: tuple[str, ...] = ()
    session_minutes: int = 30  # idle limit of a portal session (NIST AAL2 reauthentication)
    # While a citizen uses the portal, their Civitas token is renewed (RefreshSession) when it
    # is this old, so their Civitas session does not go idle under them (30 min by default).
    renew_token_after_seconds: float = 300.0
