"""A citizen's authenticator secrets and proofing evidence, sealed with their own data key.

An Argon2id hash in an auditor's hands is an offline guessing target (NIST SP 800-63B §5.1.1.2
asks that stored memorized secrets resist offline attack); recovery codes have only 60 bits; and
proofing evidence names a document. Payloads travel to every auditor (export bundle,
AuditService.StreamEntries), so these values are sealed like personal data
(`identity.personal_data.FieldSealer`): only the service, holding the citizen's data key, opens
them, and erasing the citizen shreds them with the rest (docs/ledger-format.md section 1).

Ledgers written before this hold the values in clear. A stored value without the sealed prefix
is read as it stands, so those ledgers still load, verify and sign citizens in; the factor's
next change (a new password, a rehash, new recovery codes) is written sealed.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from identity import base64url, passwords, recovery_codes
from identity.citizen import Factor
from identity.personal_data import SEAL_PREFIX, FieldSealer

PASSWORD_HASH = "password_hash"  # noqa: S105 - a field name
RECOVERY_SALT = "recovery_codes.salt"
EVIDENCE = "evidence"


def _recovery_hash_field(index: int) -> str:
    # Bound to its place in the list: a sealed hash moved to another index does not open.
    return f"recovery_codes.hash.{index}"


class CitizenSecrets:
    """Seals and opens one citizen's secrets; reads the clear form of older ledgers too."""

    def __init__(self, sealer: FieldSealer) -> None:
        self._sealer = sealer

    def __repr__(self) -> str:
        return f"CitizenSecrets({self._sealer!r})"

    def hash_password(self, password: str) -> str:
        """The Argon2id hash of a new password, sealed."""
        return self.seal_password_hash(passwords.hash_password(password))

    def password_matches(self, password: str, stored: str) -> bool:
        return passwords.verify_password(password, self.password_hash(stored))

    def needs_rehash(self, stored: str) -> bool:
        return passwords.needs_rehash(self.password_hash(stored))

    def hash_recovery_codes(self, codes: Sequence[str]) -> tuple[str, list[str]]:
        """A fresh salt and each code's Argon2id hash, sealed (see `seal_recovery_codes`)."""
        salt = os.urandom(recovery_codes.MIN_SALT_BYTES)
        hashes = [recovery_codes.hash_recovery_code(code, salt) for code in codes]
        return self.seal_recovery_codes(salt, hashes)

    def recovery_code_index(self, code: str, factor: Factor) -> int | None:
        """Which unused code of the factor *code* is, if any."""
        return recovery_codes.matching_code_index(
            code,
            self.recovery_hashes(factor.details["hashes"]),
            self.recovery_salt(factor.details["salt"]),
        )

    def seal_password_hash(self, password_hash: str) -> str:
        return self._sealer.seal(PASSWORD_HASH, password_hash)

    def password_hash(self, stored: str) -> str:
        """The PHC string of a stored password hash ("" stays "")."""
        return self._open(PASSWORD_HASH, stored)

    def seal_recovery_codes(self, salt: bytes, hashes: Sequence[str]) -> tuple[str, list[str]]:
        """The salt and each code's hash, sealed: (sealed salt, sealed hashes in order)."""
        sealed_salt = self._sealer.seal(RECOVERY_SALT, base64.b64encode(salt).decode())
        sealed = [self._sealer.seal(_recovery_hash_field(i), h) for i, h in enumerate(hashes)]
        return sealed_salt, sealed

    def recovery_salt(self, stored: str) -> bytes:
        if stored.startswith(SEAL_PREFIX):
            return base64.b64decode(self._sealer.open(RECOVERY_SALT, stored))
        return base64url.decode(stored)  # the clear base64url form of older ledgers

    def recovery_hashes(self, stored: Sequence[str | None]) -> list[str | None]:
        """Each code's hash, None where the code was used."""
        return [
            None if value is None else self._open(_recovery_hash_field(i), value)
            for i, value in enumerate(stored)
        ]

    def seal_evidence(self, evidence: str) -> str:
        return self._sealer.seal(EVIDENCE, evidence) if evidence else ""

    def evidence(self, stored: str) -> str:
        return self._open(EVIDENCE, stored)

    def _open(self, field: str, stored: str) -> str:
        # A clear value never starts with the prefix: a PHC string starts with "$", hex and
        # base64url have no ".", and evidence written in clear before sealing is read as is.
        if not stored.startswith(SEAL_PREFIX):
            return stored
        return self._sealer.open(field, stored)
