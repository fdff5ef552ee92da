"""The role table names every RPC of the protos, and nothing else."""

from __future__ import annotations

from civitas.api.roles import ROLES, SERVICES, role_allowed
from protos.civitas.v1 import audit_pb2, history_pb2, identity_pb2, transaction_pb2

MODULES = (audit_pb2, history_pb2, identity_pb2, transaction_pb2)


def _every_method() -> set[str]:
    return {
        f"{service.full_name}/{method.name}"
        for module in MODULES
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }


def test_every_rpc_of_the_protos_has_an_entry_and_every_entry_an_rpc() -> None:
    methods = _every_method()
    assert methods - ROLES.keys() == set(), "an RPC nobody may call: add it to ROLES"
    assert ROLES.keys() - methods == set(), "a ROLES entry for no RPC"
    assert {name.split("/")[0] for name in methods} == set(SERVICES)
    assert all(ROLES.values()), "an entry that allows nobody"


def test_agency_star_stands_for_any_agency_and_nothing_else() -> None:
    agency = frozenset({"agency:*"})
    assert role_allowed("agency:tax", agency)
    assert not role_allowed("agency", agency)
    assert not role_allowed("citizen", agency)
    assert not role_allowed("agency:tax", frozenset({"citizen"}))
    assert role_allowed("admin", frozenset({"admin", "auditor"}))


def test_an_account_may_hold_several_capabilities_and_is_allowed_by_any_of_them() -> None:
    counter = "agency:building,registrar,relying-service"
    assert role_allowed(counter, frozenset({"registrar"}))
    assert role_allowed(counter, frozenset({"relying-service"}))
    assert role_allowed(counter, frozenset({"agency:*"}))
    assert not role_allowed(counter, frozenset({"admin"}))
    assert not role_allowed("agency:tax,relying-service", frozenset({"registrar"}))


R, S, A = "registrar", "relying-service", "admin"
IDENTITY, HISTORY = "civitas.v1.IdentityService/", "civitas.v1.HistoryService/"
AUDIT, TRANSACTION = "civitas.v1.AuditService/", "civitas.v1.TransactionService/"
# Issue 13: who may call each RPC, written out once more by hand. Changing authenticators is
# relayed by a relying service or a registrar, and needs the citizen's own proof besides
# (test_authority.py); no capability reaches another's citizen without it.
EXPECTED: dict[str, set[str]] = {
    **{
        AUDIT + m: {"auditor", A}
        for m in (
            "GetLatestCheckpoint",
            "GetInclusionProof",
            "GetConsistencyProof",
            "StreamEntries",
            "GetKeyring",
            "StreamProjection",
            "ProveDataKeys",
        )
    },
    **{IDENTITY + m: {R} for m in ("RegisterCitizen", "GetCitizen", "FindCitizen")},
    **{
        IDENTITY + m: {R, S}
        for m in (
            "SetPassword",
            "BeginTotpEnrollment",
            "ConfirmTotpEnrollment",
            "BeginPasskeyRegistration",
            "CompletePasskeyRegistration",
            "IssueRecoveryCodes",
            "RemoveAuthenticator",
        )
    },
    **{
        IDENTITY + m: {S}
        for m in (
            "BeginAuthentication",
            "CompleteAuthentication",
            "IntrospectToken",
            "RefreshSession",
            "GetJwks",
        )
    },
    # A citizen's sessions: listed with the citizen's token relayed, ended with it or by the
    # relying service that opened the session; an admin may do both (test_authority.py).
    **{IDENTITY + m: {S, A} for m in ("RevokeSession", "ListSessions")},
    **{
        IDENTITY + m: {A}
        for m in (
            "UnlockFactor",
            "EraseCitizen",
            "StartRecovery",
            "CompleteRecovery",
        )
    },
    IDENTITY + "CancelRecovery": {"citizen", S, A},
    **{HISTORY + m: {"citizen"} for m in ("ListMyHistory", "GetReceipt", "WatchMyHistory")},
    **{
        TRANSACTION + m: {"agency:*"}
        for m in (
            "SubmitTransaction",
            "StartReview",
            "RequestInformation",
            "ResumeReview",
            "ApproveTransaction",
            "RejectTransaction",
            "CompleteTransaction",
            "ListTransactions",
        )
    },
    **{TRANSACTION + m: {"citizen"} for m in ("WithdrawTransaction", "ProvideInformation")},
    **{TRANSACTION + m: {"agency:*", "citizen"} for m in ("GetTransaction", "WatchTransaction")},
}


def test_the_table_says_for_every_rpc_who_may_call_it() -> None:
    assert set(EXPECTED) == _every_method()
    assert {method: set(roles) for method, roles in ROLES.items()} == EXPECTED
