"""Who may call each RPC: one entry per method, by its full name (`package.Service/Method`).

The interceptor refuses a method that has no entry (ROLE_NOT_ALLOWED), and a test checks that
every method of the protos has one, so a new RPC is neither open by accident nor forgotten.
`agency:*` stands for any agency account. What a caller may do with a particular case or
citizen (their own only) is decided in `civitas.api.authorization`.
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
RELYING_SERVICES = frozenset({"agency:*", "admin"})  # agency portals sign citizens in
ADMIN = frozenset({"admin"})
CITIZEN = frozenset({"citizen"})
AGENCY = frozenset({"agency:*"})
AGENCY_OR_CITIZEN = frozenset({"agency:*", "citizen"})


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
    **_each(
        IDENTITY_SERVICE,
        RELYING_SERVICES,
        "RegisterCitizen",
        "GetCitizen",
        "FindCitizen",
        "SetPassword",
        "BeginTotpEnrollment",
        "ConfirmTotpEnrollment",
        "BeginPasskeyRegistration",
        "CompletePasskeyRegistration",
        "IssueRecoveryCodes",
        "RemoveAuthenticator",
        "BeginAuthentication",
        "CompleteAuthentication",
        "IntrospectToken",
        "RefreshSession",
        "RevokeSession",
        "ListSessions",
        "GetJwks",
    ),
    **_each(IDENTITY_SERVICE, ADMIN, "UnlockFactor", "EraseCitizen"),
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
    return role in allowed or ("agency:*" in allowed and role.startswith("agency:"))
