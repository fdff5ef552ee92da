"""Registering citizens, looking them up for a registrar, and erasing them."""

from __future__ import annotations

import uuid
from dataclasses import replace

from eventsourcing.persistence import IntegrityError

from identity.activation import hash_activation_code, new_activation_code
from identity.application_base import CitizenErased, CitizenView, IdentityBase
from identity.citizen import (
    Citizen,
)
from identity.erasure import destroy, erase
from identity.national_id_claim import NationalIdentifierClaim, claim_id, current_claim
from identity.sealed_secrets import CitizenSecrets
from identity.validation import (
    require_text,
    validate_personal_data,
)
from ledger.data_access import check_purpose
from ledger.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from ledger.retry import retry_on_conflict


class Registration(IdentityBase):
    def register_citizen(
        self,
        personal_data: dict[str, str],
        assurance: str,
        evidence: str,
        registrar: str,
        actor: str,
    ) -> CitizenView:
        """A new citizen and their activation code (its hash only is stored); or, for a
        national identifier registered already, that citizen, with the registrar's lookup
        recorded in their history like any other read."""
        validate_personal_data(personal_data, assurance, evidence)
        lookup_hash = self._national_ids.lookup_hash(personal_data["national_identifier"])
        citizen_id = uuid.uuid4()
        # Past generation 0 when the identifier's earlier holders were erased.
        generation, holder = current_claim(self._load, lookup_hash)
        if holder is not None:
            return self._existing_registration(holder.citizen_id, registrar, actor)
        sealer = self._data_keys.create(citizen_id)
        sealed = {name: sealer.seal(name, value) for name, value in personal_data.items() if value}
        sealed_evidence = CitizenSecrets(sealer).seal_evidence(evidence)
        citizen = Citizen(
            citizen_id,
            sealed,
            lookup_hash,
            assurance,
            sealed_evidence,
            actor=actor,
            key_presence=sealer.presence_public_key(),
        )
        code = new_activation_code()
        expires_at = self._clock() + self.settings.activation_lifetime
        citizen.issue_activation_code(hash_activation_code(code), expires_at, actor=actor)
        claim = NationalIdentifierClaim(
            claim_id(lookup_hash, generation), lookup_hash, str(citizen_id), actor=actor
        )
        try:
            self.save(citizen, claim)
        except IntegrityError:  # registered at the same moment by another request
            self._data_keys.destroy(citizen_id)
            _, holder = current_claim(self._load, lookup_hash)
            if holder is None:  # the clash was not the claim's: nothing to return
                raise Conflict("the registration clashed; retry", reason="ALREADY_EXISTS") from None
            return self._existing_registration(holder.citizen_id, registrar, actor)
        return replace(self._view(citizen), activation_code=code, activation_expires_at=expires_at)

    def _existing_registration(self, citizen_id: str, registrar: str, actor: str) -> CitizenView:
        """Issue 13: a national identifier registered already answers with that citizen (to a
        registrar: the role table lets only them call), and the lookup is recorded for them."""
        purpose = "registration: this national identifier is already registered"
        self._data_access.record(citizen_id, registrar, purpose, "personal data", actor=actor)
        return replace(self.get_citizen(citizen_id), already_registered=True)

    def citizen_exists(self, citizen_id: str) -> bool:
        """Whether *citizen_id* names a registered citizen who was not erased."""
        try:
            return not self._citizen(citizen_id).erased
        except (CitizenErased, NotFound, InvalidInput):
            return False

    def read_citizen(self, citizen_id: str, agency: str, purpose: str, actor: str) -> CitizenView:
        """An agency reads a citizen's data: the purpose is checked before the citizen is looked
        up, and the read is recorded before the data is returned, a miss as well as a hit."""
        check_purpose(purpose)
        try:
            view = self.get_citizen(citizen_id)
        except NotFound:
            self._data_access.record("", agency, purpose, "personal data: no match", actor=actor)
            raise
        self._data_access.record(view.citizen_id, agency, purpose, "personal data", actor=actor)
        return view

    def find_citizen_for(
        self, national_identifier: str, agency: str, purpose: str, actor: str
    ) -> CitizenView:
        """Issue 13: no existence oracle. Both fields are checked before any lookup, and a
        miss is recorded like a hit (who asked, with what purpose)."""
        require_text("national_identifier", national_identifier, required=True)
        check_purpose(purpose)
        try:
            view = self.find_citizen(national_identifier)
        except NotFound:
            resource = "national identifier lookup: no match"
            self._data_access.record("", agency, purpose, resource, actor=actor)
            raise
        self._data_access.record(view.citizen_id, agency, purpose, "personal data", actor=actor)
        return view

    def find_citizen(self, national_identifier: str) -> CitizenView:
        require_text("national_identifier", national_identifier, required=True)
        lookup_hash = self._national_ids.lookup_hash(national_identifier)
        _, claim = current_claim(self._load, lookup_hash)
        if claim is None:  # never registered, or its citizen was erased
            raise NotFound("no citizen with this national identifier", reason="CITIZEN_NOT_FOUND")
        return self.get_citizen(claim.citizen_id)

    def erase_citizen(self, citizen_id: str, reason: str, actor: str) -> CitizenView:
        require_text("reason", reason, required=True)

        def erase_once() -> Citizen:
            # Loaded afresh on every retry: a sign-in or refresh that saved first is erased too.
            erasure = erase(self._citizen(citizen_id), self._load, reason, actor)
            # The Erased entry is stored before the key is deleted, never after: an auditor's
            # ProveDataKeys counts a key gone without an Erased entry before it as deleted
            # unlawfully (identity.key_presence).
            self.save(*erasure.aggregates())
            destroy(erasure, self._data_keys, self.store)
            return erasure.citizen

        citizen = retry_on_conflict(erase_once, what="the citizen")
        return CitizenView(citizen_id, {}, citizen.assurance, [], {}, erased=True)
