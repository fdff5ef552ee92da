"""The aggregate cache (ledger/repository.py): every read is a private copy of what is stored,
and the cache never goes back to an older version."""

from __future__ import annotations

from typing import Any

from civitas.node import Node
from ledger.accounts import ServiceAccount, account_id
from ledger.repository import CachedRepository


def _repository(node: Node) -> CachedRepository:
    repository = node.accounts.repository
    assert isinstance(repository, CachedRepository)
    return repository


def _read(node: Node, name: str) -> Any:
    account = _repository(node).get(account_id(name))
    assert isinstance(account, ServiceAccount)
    return account


def test_a_change_that_is_not_saved_stays_with_its_reader(node: Node) -> None:
    node.accounts.create("cached", "auditor", actor="cli:test")
    first = _read(node, "cached")
    first.change_role("admin", actor="cli:test")  # a command that then fails, say: not saved
    assert _read(node, "cached").role == "auditor"
    assert _read(node, "cached") is not _read(node, "cached")


def test_what_was_saved_is_what_the_next_read_sees(node: Node) -> None:
    node.accounts.create("saved", "auditor", actor="cli:test")
    node.accounts.change_role("saved", "agency:tax", actor="cli:test")
    account = _read(node, "saved")
    assert (account.role, account.version) == ("agency:tax", 2)


def test_an_older_version_never_replaces_a_newer_one(node: Node) -> None:
    node.accounts.create("versions", "auditor", actor="cli:test")
    older = _read(node, "versions")
    node.accounts.change_role("versions", "agency:tax", actor="cli:test")
    repository = _repository(node)
    repository.remember(older)  # a slow reader finishing late
    # (A read would still catch up from the store; the cache itself must not go back.)
    assert repository.cache is not None
    assert repository.cache.get(account_id("versions")).version == 2
    assert _read(node, "versions").role == "agency:tax"
