"""Sealing and opening a citizen's free-text fields by citizen id (`ledger.sealing`), and the
sealed values of a history item opened for the citizen who reads it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol, TypeVar
from uuid import UUID

from identity.personal_data import SEAL_PREFIX, DataKeyMissing, DataKeyStore, FieldSealer


class ClientContext(Protocol):
    """Where a sign-in or a refresh came from (`citizen.Attempt`, `session.Refresh`)."""

    @property
    def client_address(self) -> str: ...

    @property
    def user_agent(self) -> str: ...


C = TypeVar("C", bound=ClientContext)


def sealed_client(sealer: FieldSealer, context: C) -> C:
    """The context with its address and user agent sealed for the citizen: where and with what
    they signed in is theirs, shown to them alone, and shredded with their key on erasure."""
    return replace(  # type: ignore[type-var]
        context,
        client_address=sealer.seal_if_given("client_address", context.client_address),
        user_agent=sealer.seal_if_given("user_agent", context.user_agent),
    )


class CitizenFields:
    """`ledger.sealing.CitizenFields` on the citizens' data keys."""

    def __init__(self, data_keys: DataKeyStore) -> None:
        self._data_keys = data_keys

    def seal(self, citizen_id: str, field: str, value: str) -> str | None:
        sealer = self._sealer(citizen_id)
        if sealer is None:
            return None
        return sealer.seal(field, value) if value else ""

    def open(self, citizen_id: str, field: str, sealed: str) -> str | None:
        if not sealed.startswith(SEAL_PREFIX):
            return sealed  # recorded in clear, before these fields were sealed
        sealer = self._sealer(citizen_id)
        return None if sealer is None else _opened(sealer, field, sealed)

    def opened_summary(self, citizen_id: str, summary: dict[str, Any]) -> dict[str, Any]:
        """A history item's summary with its sealed values opened; once the citizen is erased
        (nobody can read it then) or where a value does not open, the value is left out."""
        sealed = [name for name, value in summary.items() if _is_sealed(value)]
        if not sealed:
            return summary
        sealer = self._sealer(citizen_id)
        opened = dict(summary)
        for name in sealed:
            value = None if sealer is None else _opened(sealer, name, summary[name])
            if value is None:
                del opened[name]
            else:
                opened[name] = value
        return opened

    def _sealer(self, citizen_id: str) -> FieldSealer | None:
        try:
            return self._data_keys.sealer(UUID(citizen_id))
        except (DataKeyMissing, ValueError):
            return None


def _is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEAL_PREFIX)


def _opened(sealer: FieldSealer, field: str, sealed: str) -> str | None:
    try:
        return sealer.open(field, sealed)
    except ValueError:
        return None
