"""Free text about a citizen, sealed with that citizen's own data key before it is recorded.

A case's note, an agency's reasons and a data access's purpose may name the person; stored in
clear they would outlive the citizen's erasure in every copy of the ledger. The ledger core
cannot hold the citizens' keys (`identity` builds on `ledger`), so the composition root passes
the identity side's `CitizenFields` in (civitas/node.py). Once a citizen is erased their key is
gone: what was sealed with it is noise, and nothing more can be sealed for them.
"""

from __future__ import annotations

from typing import Protocol


class CitizenFields(Protocol):
    def seal(self, citizen_id: str, field: str, value: str) -> str | None:
        """`value` sealed for the citizen ("" stays ""); None once the citizen is erased."""

    def open(self, citizen_id: str, field: str, sealed: str) -> str | None:
        """The value sealed in `sealed` (a value recorded in clear before sealing existed is
        returned as it is); None once the citizen is erased."""


class Unsealed:
    """Keeps values as they are: for the transaction domain's own tests, which run without
    citizens or keys. A node always passes the identity side's sealing fields."""

    def seal(self, citizen_id: str, field: str, value: str) -> str | None:
        return value

    def open(self, citizen_id: str, field: str, sealed: str) -> str | None:
        return sealed
