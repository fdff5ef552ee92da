"""Who may call each RPC: one entry per method, by its full name (`package.Service/Method`).

The interceptor refuses a method that has no entry (ROLE_NOT_ALLOWED), and a test checks that
every method of the protos has one, so a new RPC is neither open by accident nor forgotten.
A service account holds one capability or several (ledger/accounts.py); it may call a method
when it holds one of the method's capabilities. `agency:*` stands for any agency. What a caller
may do with a particular case or citizen (their own only) is decided in
`civitas.api.authorization`, and whether a change to a citizen's authenticators carries the
citizen's own proof in `identity.authority`.
"""

from __future__ import annotations

from collections.abc import Mapping

from protos.civitas.v1 import audit_pb2, history_pb2, identity_pb2, transaction_pb2

AUDIT_SERVICE = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name
IDENTITY_SERVICE = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name
HISTORY_SERVICE = history_pb2.DESCRIPTOR.services_by_name["HistoryService"].full_name
TRANSACTION_SERVICE = transaction_pb2.DESCRIPTOR.services_by_name["TransactionService"].full_name
SERVICES = (AUDIT_SERVICE, IDENTITY_SERVICE, HISTORY_SERVICE, TRANSACTION_SERVICE)

AUDITORS = frozenset({"auditor", "admin"})
ADMIN = frozenset({"admin"})
CITIZEN = frozenset({"citizen"})
AGENCY = frozenset({"agency:*"})
AGENCY_OR_CITIZEN = frozenset({"agency:*", "citizen"})
# Identity proofing: registering a citizen, and finding or reading one to proof them.
REGISTRAR = frozenset({"registrar"})
# Signing citizens in, and the tokens and sessions that follow.
RELYING_SERVICE = frozenset({"relying-service"})
# Changing a citizen's authenticators: a relying service or a registrar's counter relays the
# call, and it still needs the citizen's own proof (a token or their activation code), which
# `identity.authority` checks; the capability alone changes nothing.
RELAYS_CITIZEN_PROOF = frozenset({"relying-service", "registrar"})
# A citizen's sessions: a relying service relaying the citizen's token (or, to end a session,
# the one that opened it), or an admin; `identity.authority` decides which session or list.
SESSIONS = frozenset({"relying-service", "admin"})
# Cancelling a recovery: the citizen themself, a relying service relaying their token, or an
# admin who started it by mistake.
CANCELS_RECOVERY = frozenset({"citizen", "relying-service", "admin"})


def _each(service: str, roles: frozenset[str], *methods: str) -> dict[str, frozenset[str]]:
    return {f"{service}/{method}": roles for method in methods}


ROLES: Mapping[str, frozenset[str]] = {
    **_each(
        AUDIT_SERVICE,
        AUDITORS,
        "GetLatestCheckpoint",
        "GetInclusionProof",
        "GetConsistencyProof",
        "StreamEntries",
        "GetKeyring",
        "StreamProjection",
        "ProveDataKeys",
    ),
    **_each(IDENTITY_SERVICE, REGISTRAR, "RegisterCitizen", "GetCitizen", "FindCitizen"),
    **_each(
        IDENTITY_SERVICE,
        RELAYS_CITIZEN_PROOF,
        "SetPassword",
        "BeginTotpEnrollment",
        "ConfirmTotpEnrollment",
        "BeginPasskeyRegistration",
        "CompletePasskeyRegistration",
        "IssueRecoveryCodes",
        "RemoveAuthenticator",
    ),
    **_each(
        IDENTITY_SERVICE,
        RELYING_SERVICE,
        "BeginAuthentication",
        "CompleteAuthentication",
        "IntrospectToken",
        "RefreshSession",
        "GetJwks",
    ),
    **_each(IDENTITY_SERVICE, SESSIONS, "RevokeSession", "ListSessions"),
    **_each(
        IDENTITY_SERVICE,
        ADMIN,
        "UnlockFactor",
        "EraseCitizen",
        "StartRecovery",
        "CompleteRecovery",
    ),
    **_each(IDENTITY_SERVICE, CANCELS_RECOVERY, "CancelRecovery"),
    **_each(HISTORY_SERVICE, CITIZEN, "ListMyHistory", "GetReceipt", "WatchMyHistory"),
    **_each(
        TRANSACTION_SERVICE,
        AGENCY,
        "SubmitTransaction",
        "StartReview",
        "RequestInformation",
        "ResumeReview",
        "ApproveTransaction",
        "RejectTransaction",
        "CompleteTransaction",
        "ListTransactions",
    ),
    **_each(TRANSACTION_SERVICE, CITIZEN, "WithdrawTransaction", "ProvideInformation"),
    **_each(TRANSACTION_SERVICE, AGENCY_OR_CITIZEN, "GetTransaction", "WatchTransaction"),
}


def role_allowed(role: str, allowed: frozenset[str]) -> bool:
    """Whether a caller with *role* (one capability or several, comma-separated) holds one of
    the *allowed* capabilities; `agency:*` stands for any agency."""
    return any(
        capability in allowed or ("agency:*" in allowed and capability.startswith("agency:"))
        for capability in role.split(",")
    )
