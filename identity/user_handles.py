"""Passkey user handles: the WebAuthn `user.id` a citizen's passkeys carry, and the way back from
one to the citizen for a username-less sign-in.

A handle is 32 random bytes (WebAuthn L3 section 14.6.1: no personal data, not the citizen id
relying services see as `sub`), one per citizen, so an authenticator keeps one account for them.
The way back is an aggregate whose id derives from the handle, like the national-identifier
claim: it lives in the shared store, so a replica that has never seen the citizen finds it.
Passkeys registered before handles existed carry the citizen's id as their handle (16 bytes).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import event

from identity import base64url
from identity.citizen import Citizen
from ledger.events import LedgerAggregate
from ledger.mapper import PayloadErased

USER_HANDLE_NAMESPACE = uuid5(NAMESPACE_URL, "civitas:passkey-user-handle")
USER_HANDLE_BYTES = 32


def new_user_handle() -> bytes:
    return secrets.token_bytes(USER_HANDLE_BYTES)


class PasskeyUserHandle(LedgerAggregate):
    """Names the citizen a passkey user handle belongs to."""

    @staticmethod
    def create_id(user_handle: str) -> UUID:
        return uuid5(USER_HANDLE_NAMESPACE, user_handle)

    @event("Claimed")
    def __init__(self, user_handle: str, citizen_id: str, actor: str) -> None:
        self.citizen_id = citizen_id


def claim_user_handle(citizen: Citizen, actor: str) -> list[PasskeyUserHandle]:
    """Give *citizen* a user handle before their first passkey; the claim to save with them."""
    if citizen.user_handle:
        return []
    handle = base64url.encode(new_user_handle())
    citizen.assign_user_handle(handle, actor=actor)
    return [PasskeyUserHandle(handle, str(citizen.id), actor=actor)]


def citizen_of(get: Callable[[UUID], object], user_handle: bytes) -> Citizen | None:
    """The citizen, not erased, whose passkeys carry *user_handle* (`get` loads an aggregate
    from the store); None for anyone else."""
    for aggregate_id in handle_ids(user_handle):
        with contextlib.suppress(AggregateNotFoundError, PayloadErased):
            found = get(aggregate_id)
            if isinstance(found, PasskeyUserHandle):
                found = get(UUID(found.citizen_id))
            if isinstance(found, Citizen) and not found.erased:
                return found
    return None


def handle_ids(user_handle: bytes) -> list[UUID]:
    """Where the citizen of *user_handle* may be found, first to last: its claim, and for a
    handle of 16 bytes (a passkey registered before handles existed) the citizen id itself."""
    ids = [PasskeyUserHandle.create_id(base64url.encode(user_handle))]
    if len(user_handle) == 16:  # a UUID's bytes
        ids.append(UUID(bytes=user_handle))
    return ids
