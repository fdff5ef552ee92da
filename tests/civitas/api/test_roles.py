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


def test_the_refusals_that_are_not_a_services_default() -> None:
    # The narrower entries that the old per-service defaults overrode: pinned, as the table is.
    assert ROLES["civitas.v1.IdentityService/EraseCitizen"] == {"admin"}
    assert ROLES["civitas.v1.IdentityService/UnlockFactor"] == {"admin"}
    assert ROLES["civitas.v1.IdentityService/GetJwks"] == {"agency:*", "admin"}
    assert ROLES["civitas.v1.TransactionService/WithdrawTransaction"] == {"citizen"}
    assert ROLES["civitas.v1.TransactionService/GetTransaction"] == {"agency:*", "citizen"}
    assert ROLES["civitas.v1.TransactionService/ListTransactions"] == {"agency:*"}
    assert ROLES["civitas.v1.HistoryService/GetReceipt"] == {"citizen"}
    assert ROLES["civitas.v1.AuditService/StreamProjection"] == {"auditor", "admin"}
