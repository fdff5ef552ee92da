"""What a caller may ask for, beyond their role: which agency they speak for, which citizen
they are, and whose cases they may act on or read.

The role table (`civitas.api.roles`) decides who may call an RPC at all; these small functions
decide the rest, from the caller the interceptor authenticated. The domain below takes plain
values (an agency, a citizen id) and asks the API layer's check before it changes or returns a
case, so every decision that depends on the caller is made here.
"""

from __future__ import annotations

from contextvars import ContextVar
from uuid import UUID

from identity.authority import CitizenProof, SessionsAsker
from ledger.accounts import Caller
from ledger.errors import NotAllowed
from ledger.transactions import Parties

# Set by the interceptor for the length of a call, so a servicer reads the caller without
# every method threading it through by hand.
CURRENT_CALLER: ContextVar[Caller] = ContextVar("civitas_caller")


def current_caller() -> Caller:
    return CURRENT_CALLER.get()


def actor_of(caller: Caller) -> str:
    """How the caller appears as an entry's actor."""
    return caller.principal


def is_citizen(caller: Caller) -> bool:
    return caller.role == "citizen"


def agency_of(caller: Caller) -> str:
    """The agency an agency account speaks for (`agency:tax` → `tax`); anyone else is refused."""
    agency = next((c for c in caller.capabilities if c.startswith("agency:")), None)
    if caller.role == "citizen" or agency is None:
        raise NotAllowed("only an agency account acts on cases", reason="AGENCY_ONLY")
    return agency.removeprefix("agency:")


def citizen_of(caller: Caller) -> str:
    """The citizen id of a citizen caller (their token's subject); anyone else is refused."""
    if not is_citizen(caller):
        raise NotAllowed("only the citizen themself may do this", reason="CITIZEN_ONLY")
    return caller.name


def recovery_canceller(
    caller: Caller, relayed: CitizenProof | None, bearer: str
) -> CitizenProof | None:
    """Whose proof cancels a recovery: a citizen's own bearer token; the citizen's token a
    relying service relays; or none, for an admin relaying nothing (the role table let only
    these callers in). A relying service without a token is left to be refused."""
    if is_citizen(caller):
        return CitizenProof(citizen_token=bearer)
    if relayed is None and "admin" in caller.capabilities:
        return None
    return relayed or CitizenProof()


def sessions_asker(caller: Caller, relayed: CitizenProof | None) -> SessionsAsker:
    """Who asks to list or end a citizen's sessions: the citizen's token a relying service
    relayed (an empty proof counts as none), the relying service by its account name (a
    session remembers which one opened it), and whether the caller is an admin. What each may
    do is decided in `identity.authority`."""
    if relayed is not None and not (relayed.citizen_token or relayed.activation_code):
        relayed = None
    return SessionsAsker(
        proof=relayed,
        relying_service=caller.name if "relying-service" in caller.capabilities else "",
        admin="admin" in caller.capabilities,
    )


def require_own_case(caller: Caller, case: Parties) -> None:
    """To act on a case: an agency only on its own cases, a citizen only on their own."""
    _require_owner(caller, case, acting=True)


def require_readable_case(caller: Caller, case: Parties) -> None:
    """To read a case: the same owners as `require_own_case`, refused in a reader's words."""
    _require_owner(caller, case, acting=False)


def _require_owner(caller: Caller, case: Parties, *, acting: bool) -> None:
    if is_citizen(caller):
        if not _same_citizen(caller.name, case.citizen_id):
            message = (
                "this transaction belongs to another citizen" if acting else "this is not your case"
            )
            raise NotAllowed(message, reason="CASE_OF_ANOTHER_CITIZEN")
        return
    # NotAllowed rather than NotFound, although it tells a foreign agency that the id exists:
    # callers are authenticated agency services, ids are not guessable without the owner's
    # idempotency key, and a plain refusal makes misrouted cases easy to see.
    agency = agency_of(caller)
    if case.agency != agency:
        message = (
            f"agency {agency!r} cannot act on agency {case.agency!r}'s cases"
            if acting
            else f"agency {agency} cannot read agency {case.agency}'s cases"
        )
        raise NotAllowed(message, reason="CASE_OF_ANOTHER_AGENCY")


def _same_citizen(name: str, citizen_id: str) -> bool:
    """A citizen's name is their id as their token names it; compared as UUIDs, so letter case
    or braces in how it is written cannot refuse the citizen their own case."""
    try:
        return UUID(name) == UUID(citizen_id)
    except ValueError:
        return False
