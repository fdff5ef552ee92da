"""Who is calling: a service account by API key or client certificate, or a citizen by the
JWT IdentityService issued them."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import grpc

from ledger.accounts import Caller, ServiceAccounts
from ledger.errors import Unauthenticated

AUTH_CACHE_SECONDS = 2.0  # how long a revoked key may still work on a running server


class CallerAuthenticator:
    """Service accounts by API key (`authorization: Bearer cvk.…`) or, under mTLS, by client
    certificate; citizens by the JWT IdentityService issued them (`Bearer <JWT>`)."""

    def __init__(
        self, accounts: ServiceAccounts, citizen_caller: Callable[[str], Caller | None]
    ) -> None:
        self._accounts = accounts
        self._citizen_caller = citizen_caller
        self._cache: dict[str, tuple[float, Caller]] = {}
        self._certificates: dict[str, tuple[float, Caller]] = {}
        self._lock = threading.Lock()

    def authenticate(self, context: grpc.ServicerContext) -> Caller:
        metadata = dict(context.invocation_metadata())
        authorization = str(metadata.get("authorization", ""))
        if authorization:
            scheme, _, api_key = authorization.partition(" ")
            if scheme.lower() != "bearer" or not api_key:
                raise Unauthenticated(
                    "authorization must be 'Bearer <API key or token>'",
                    reason="MALFORMED_AUTHORIZATION",
                )
            credential = api_key.strip()
            if credential.count(".") == 2 and not credential.startswith("cvk."):
                return self._by_citizen_token(credential)
            return self._by_api_key(credential)
        peer_identity: Mapping[str, Sequence[bytes]] = context.auth_context()  # type: ignore[assignment]
        common_names = peer_identity.get("x509_common_name", [])
        if common_names:
            caller = self._by_certificate(common_names[0].decode())
            if caller is None:
                raise Unauthenticated(
                    "client certificate names no active service account",
                    reason="UNKNOWN_CLIENT_CERTIFICATE",
                )
            return caller
        raise Unauthenticated(
            "no credentials: send an API key or a client certificate", reason="NO_CREDENTIALS"
        )

    def _by_citizen_token(self, token: str) -> Caller:
        """A citizen's own JWT (from IdentityService): checked, and its session still active."""
        caller = self._citizen_caller(token)
        if caller is None:
            raise Unauthenticated(
                "the token is not valid or its session has ended", reason="INVALID_TOKEN"
            )
        return caller

    def _by_certificate(self, name: str) -> Caller | None:
        """Cached like API keys: a stream checks its caller again before every item it sends."""
        now = time.monotonic()
        key = f"cert:{name}"
        cached = self._certificates.get(key)
        if cached and now - cached[0] < AUTH_CACHE_SECONDS:
            return cached[1]
        caller = self._accounts.find(name)
        if caller is not None:  # an unknown name is asked again: it may be created any moment
            with self._lock:
                self._certificates[key] = (now, caller)
        return caller

    def _by_api_key(self, api_key: str) -> Caller:
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached and now - cached[0] < AUTH_CACHE_SECONDS:
            return cached[1]
        caller = self._accounts.authenticate_key(api_key)
        with self._lock:
            self._cache[digest] = (now, caller)
        return caller
