"""Enrolling a citizen's authenticators: password, TOTP, passkeys and recovery codes, each
change with the citizen's own proof (`identity.authority`)."""

from __future__ import annotations

from identity import base64url, passkeys, passwords, recovery_codes, totp
from identity.account_names import account_name, full_name
from identity.application_base import CitizenView, TotpEnrollment
from identity.authority import CitizenProof
from identity.citizen import (
    Citizen,
    Factor,
)
from identity.refusals import PASSKEY_REASONS
from identity.session_commands import SessionCommands
from identity.user_handles import claim_user_handle
from identity.validation import (
    POLICY_MESSAGES,
    require_json,
    require_text,
)
from ledger.errors import (
    InvalidInput,
)
from ledger.retry import retry_on_conflict


class Enrolment(SessionCommands):
    def set_password(
        self, citizen_id: str, password: str, proof: CitizenProof, actor: str
    ) -> Factor:
        proof.check()
        try:
            passwords.check_password_policy(password)
        except passwords.PasswordPolicyError as error:
            raise InvalidInput.of(
                "password",
                POLICY_MESSAGES.get(error.reason, "not acceptable"),
                reason="PASSWORD_POLICY",
            ) from None
        # An unknown or erased citizen is refused before the Argon2id.
        sealed_hash = self._secrets(self._citizen(citizen_id)).hash_password(password)

        def set_password(citizen: Citizen) -> Factor:
            self._authorize(citizen, proof, "password", actor)
            return citizen.set_password(sealed_hash, actor=actor)

        return self._update(citizen_id, set_password)

    def begin_totp_enrollment(
        self, citizen_id: str, label: str, proof: CitizenProof, actor: str, account: str = ""
    ) -> TotpEnrollment:
        require_text("label", label)
        require_text("account_name", account)
        proof.check()
        citizen = self._citizen(citizen_id)
        self._authorize(citizen, proof, "", actor)
        name = account_name(account, self._view(citizen).personal_data)
        seed = totp.new_totp_seed()
        sealed_seed = self._sealer(citizen).seal("totp_seed", seed)
        authenticator_id = citizen.start_totp_enrollment(
            sealed_seed, label or "authenticator app", actor=actor
        )
        self.save(citizen)
        uri = totp.provisioning_uri(seed, account_name=name, issuer=self.settings.issuer)
        return TotpEnrollment(authenticator_id, uri, totp.qr_svg(uri), totp.qr_png(uri))

    def confirm_totp_enrollment(
        self, citizen_id: str, authenticator_id: str, code: str, proof: CitizenProof, actor: str
    ) -> Factor:
        require_text("authenticator_id", authenticator_id, required=True)
        require_text("code", code, required=True)
        proof.check()

        def confirm(citizen: Citizen) -> Factor:
            self._authorize(citizen, proof, "totp", actor)
            factor = citizen.factors.get(authenticator_id)
            sealed_seed = factor.secret if factor is not None and factor.method == "totp" else ""
            step = (
                self._totp_step(self._sealer(citizen), sealed_seed, code) if sealed_seed else None
            )
            return citizen.confirm_totp(authenticator_id, step, actor=actor)

        return self._update(citizen_id, confirm)

    def begin_passkey_registration(
        self, citizen_id: str, label: str, proof: CitizenProof, actor: str, account: str = ""
    ) -> tuple[str, str]:
        require_text("label", label)
        require_text("account_name", account)
        proof.check()
        return retry_on_conflict(
            lambda: self._begin_passkey_registration(citizen_id, label, proof, actor, account)
        )

    def _begin_passkey_registration(
        self, citizen_id: str, label: str, proof: CitizenProof, actor: str, account: str
    ) -> tuple[str, str]:
        citizen = self._citizen(citizen_id)
        self._authorize(citizen, proof, "", actor)
        personal = self._view(citizen).personal_data
        claims = claim_user_handle(citizen, actor)
        name = account_name(account, personal)
        options_json, challenge = passkeys.registration_options(
            self.settings.relying_party,
            user_id=base64url.decode(citizen.user_handle),
            user_name=name,
            display_name=full_name(personal) or name,
            exclude_credential_ids=[
                base64url.decode(f.details["credential_id"]) for f in citizen.passkeys()
            ],
            attestation=self._aal3_offered(),
        )
        registration_id = citizen.start_passkey_registration(
            base64url.encode(challenge), label, actor=actor
        )
        self.save(citizen, *claims)
        return registration_id, options_json

    def complete_passkey_registration(
        self,
        citizen_id: str,
        registration_id: str,
        credential_json: str,
        proof: CitizenProof,
        actor: str,
    ) -> Factor:
        require_text("registration_id", registration_id, required=True)
        require_json("credential_json", credential_json)
        proof.check()

        def register(citizen: Citizen) -> Factor:
            self._authorize(citizen, proof, "passkey", actor)
            challenge = base64url.decode(citizen.passkey_challenge(registration_id))
            try:
                passkey = passkeys.verify_registration(
                    self.settings.relying_party,
                    credential_json,
                    challenge,
                    trust=self.settings.attestation,
                )
            except passkeys.PasskeyError as error:
                raise InvalidInput.of(
                    "credential_json",
                    f"passkey not accepted: {error.reason}",
                    reason=PASSKEY_REASONS[error.reason],
                ) from None
            return citizen.register_passkey(
                registration_id,
                citizen.passkey_label(registration_id),
                {
                    "credential_id": base64url.encode(passkey.credential_id),
                    "public_key": base64url.encode(passkey.public_key),
                    "sign_count": passkey.sign_count,
                    "transports": list(passkey.transports),
                    "aaguid": passkey.aaguid,
                    "user_verified": passkey.user_verified,
                    "backed_up": passkey.backed_up,
                    "attestation_format": passkey.attestation_format,
                    "attested": passkey.attested,
                    "user_handle": citizen.user_handle,
                },
                actor=actor,
            )

        return self._update(citizen_id, register)

    def issue_recovery_codes(self, citizen_id: str, proof: CitizenProof, actor: str) -> list[str]:
        proof.check()
        # Refused before ten Argon2id hashes, not after them.
        citizen = self._citizen(citizen_id)
        self._authorize(citizen, proof, "", actor)
        codes = recovery_codes.new_recovery_codes()
        sealed_salt, sealed_hashes = self._secrets(citizen).hash_recovery_codes(codes)

        def issue(citizen: Citizen) -> Factor:
            self._authorize(citizen, proof, "recovery_codes", actor)
            return citizen.issue_recovery_codes(sealed_salt, sealed_hashes, actor=actor)

        self._update(citizen_id, issue)
        return codes

    def remove_authenticator(
        self, citizen_id: str, authenticator_id: str, proof: CitizenProof, actor: str
    ) -> CitizenView:
        require_text("authenticator_id", authenticator_id, required=True)
        proof.check()

        def remove(citizen: Citizen) -> None:
            self._authorize(citizen, proof, "", actor)
            citizen.remove_authenticator(authenticator_id, actor=actor)

        self._update(citizen_id, remove)
        return self.get_citizen(citizen_id)
