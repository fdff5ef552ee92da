"""IdentityService: protobuf in, one application call, protobuf out."""

from __future__ import annotations

import json

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from civitas.api.authentication import bearer_credential
from civitas.api.authorization import (
    actor_of,
    current_caller,
    recovery_canceller,
    sessions_asker,
)
from civitas.api.timestamps import to_timestamp
from identity.application import CitizenView, IdentityApplication, SignedIn
from identity.assurance import AAL_TO_EIDAS, IDENTITY_TO_EIDAS
from identity.authority import CitizenProof, SessionsAsker
from identity.citizen import Factor, Presented
from identity.recovery import RecoveryState
from identity.session import Session
from identity.validation import PERSONAL_FIELDS
from protos.civitas.v1 import identity_pb2 as pb
from protos.civitas.v1 import identity_pb2_grpc


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, identity: IdentityApplication) -> None:
        self._identity = identity

    def RegisterCitizen(
        self, request: pb.RegisterCitizenRequest, context: grpc.ServicerContext
    ) -> pb.Citizen:
        personal = {name: getattr(request.personal_data, name) for name in PERSONAL_FIELDS}
        known = request.assurance in pb.IdentityAssurance.values()
        assurance = pb.IdentityAssurance.Name(request.assurance) if known else "unknown"
        view = self._identity.register_citizen(
            personal, assurance, request.evidence, _caller_name(), _actor()
        )
        return _citizen(view)

    def GetCitizen(
        self, request: pb.GetCitizenRequest, context: grpc.ServicerContext
    ) -> pb.Citizen:
        view = self._identity.read_citizen(
            request.citizen_id, _caller_name(), request.purpose, _actor()
        )
        return _citizen(view)

    def FindCitizen(
        self, request: pb.FindCitizenRequest, context: grpc.ServicerContext
    ) -> pb.Citizen:
        view = self._identity.find_citizen_for(
            request.national_identifier, _caller_name(), request.purpose, _actor()
        )
        return _citizen(view)

    def SetPassword(
        self, request: pb.SetPasswordRequest, context: grpc.ServicerContext
    ) -> pb.Authenticator:
        return _authenticator(
            self._identity.set_password(
                request.citizen_id, request.password, _proof(request.proof), _actor()
            )
        )

    def BeginTotpEnrollment(
        self, request: pb.BeginTotpEnrollmentRequest, context: grpc.ServicerContext
    ) -> pb.TotpEnrollment:
        enrollment = self._identity.begin_totp_enrollment(
            request.citizen_id, request.label, _proof(request.proof), _actor(), request.account_name
        )
        return pb.TotpEnrollment(
            authenticator_id=enrollment.authenticator_id,
            provisioning_uri=enrollment.provisioning_uri,
            qr_svg=enrollment.qr_svg,
            qr_png=enrollment.qr_png,
        )

    def ConfirmTotpEnrollment(
        self, request: pb.ConfirmTotpEnrollmentRequest, context: grpc.ServicerContext
    ) -> pb.Authenticator:
        factor = self._identity.confirm_totp_enrollment(
            request.citizen_id,
            request.authenticator_id,
            request.code,
            _proof(request.proof),
            _actor(),
        )
        return _authenticator(factor)

    def BeginPasskeyRegistration(
        self, request: pb.BeginPasskeyRegistrationRequest, context: grpc.ServicerContext
    ) -> pb.PasskeyRegistrationOptions:
        registration_id, options_json = self._identity.begin_passkey_registration(
            request.citizen_id, request.label, _proof(request.proof), _actor(), request.account_name
        )
        return pb.PasskeyRegistrationOptions(
            registration_id=registration_id, options_json=options_json
        )

    def CompletePasskeyRegistration(
        self, request: pb.CompletePasskeyRegistrationRequest, context: grpc.ServicerContext
    ) -> pb.Authenticator:
        factor = self._identity.complete_passkey_registration(
            request.citizen_id,
            request.registration_id,
            request.credential_json,
            _proof(request.proof),
            _actor(),
        )
        return _authenticator(factor)

    def IssueRecoveryCodes(
        self, request: pb.IssueRecoveryCodesRequest, context: grpc.ServicerContext
    ) -> pb.RecoveryCodes:
        return pb.RecoveryCodes(
            codes=self._identity.issue_recovery_codes(
                request.citizen_id, _proof(request.proof), _actor()
            )
        )

    def RemoveAuthenticator(
        self, request: pb.RemoveAuthenticatorRequest, context: grpc.ServicerContext
    ) -> pb.Citizen:
        view = self._identity.remove_authenticator(
            request.citizen_id, request.authenticator_id, _proof(request.proof), _actor()
        )
        return _citizen(view)

    def BeginAuthentication(
        self, request: pb.BeginAuthenticationRequest, context: grpc.ServicerContext
    ) -> pb.AuthenticationChallenge:
        challenge = self._identity.begin_authentication(
            request.citizen_id,
            _caller_name(),
            _actor(),
            required_acr=request.required_acr,
            require_user_verification=request.require_user_verification,
        )
        return pb.AuthenticationChallenge(
            attempt_id=challenge.attempt_id,
            available_methods=challenge.methods,
            passkey_options_json=challenge.passkey_options_json,
            expires_at=to_timestamp(challenge.expires_at),
        )

    def CompleteAuthentication(
        self, request: pb.CompleteAuthenticationRequest, context: grpc.ServicerContext
    ) -> pb.AuthenticationResult:
        presented = Presented(
            password=request.password,
            totp_code=request.totp_code,
            passkey_assertion_json=request.passkey_assertion_json,
            recovery_code=request.recovery_code,
        )
        signed_in = self._identity.complete_authentication(
            request.attempt_id,
            presented,
            (request.client.address, request.client.user_agent),
            _caller_name(),
            _actor(),
        )
        return _authentication_result(signed_in)

    def IntrospectToken(
        self, request: pb.IntrospectTokenRequest, context: grpc.ServicerContext
    ) -> pb.TokenIntrospection:
        result = self._identity.introspect(request.token)
        if not result.active:
            return pb.TokenIntrospection(active=False, reason=result.reason)
        claims = result.claims
        return pb.TokenIntrospection(
            active=True,
            citizen_id=str(claims["sub"]),
            session_id=str(claims["sid"]),
            acr=str(claims["acr"]),
            amr=[str(m) for m in claims["amr"]],
            expires_at=Timestamp(seconds=int(claims["exp"])),  # issued by us: whole seconds
        )

    def RefreshSession(
        self, request: pb.RefreshSessionRequest, context: grpc.ServicerContext
    ) -> pb.AuthenticationResult:
        signed_in = self._identity.refresh_session(
            request.token,
            (request.client.address, request.client.user_agent),
            _caller_name(),
            _actor(),
        )
        return _authentication_result(signed_in)

    def RevokeSession(
        self, request: pb.RevokeSessionRequest, context: grpc.ServicerContext
    ) -> pb.Session:
        asker = _sessions_asker(request)
        session = self._identity.revoke_session(request.session_id, request.reason, _actor(), asker)
        return _session(session)

    def ListSessions(
        self, request: pb.ListSessionsRequest, context: grpc.ServicerContext
    ) -> pb.ListSessionsResponse:
        page = self._identity.list_sessions(
            request.citizen_id, _sessions_asker(request), request.page_size, request.page_token
        )
        return pb.ListSessionsResponse(
            sessions=[_session(s) for s in page.sessions], next_page_token=page.next_page_token
        )

    def GetJwks(self, request: pb.GetJwksRequest, context: grpc.ServicerContext) -> pb.Jwks:
        return pb.Jwks(json=json.dumps(self._identity.jwks_json()))

    def UnlockFactor(
        self, request: pb.UnlockFactorRequest, context: grpc.ServicerContext
    ) -> pb.Citizen:
        view = self._identity.unlock_factor(
            request.citizen_id, request.method, request.reason, _actor()
        )
        return _citizen(view)

    def EraseCitizen(
        self, request: pb.EraseCitizenRequest, context: grpc.ServicerContext
    ) -> pb.Citizen:
        return _citizen(self._identity.erase_citizen(request.citizen_id, request.reason, _actor()))

    def StartRecovery(
        self, request: pb.StartRecoveryRequest, context: grpc.ServicerContext
    ) -> pb.Recovery:
        recovery = self._identity.start_recovery(
            request.citizen_id, request.reason, request.evidence_reference, _actor()
        )
        return _recovery(recovery)

    def CancelRecovery(
        self, request: pb.CancelRecoveryRequest, context: grpc.ServicerContext
    ) -> pb.Recovery:
        relayed = _proof(request.proof) if request.HasField("proof") else None
        proof = recovery_canceller(current_caller(), relayed, bearer_credential(context))
        recovery = self._identity.cancel_recovery(
            request.citizen_id, request.reason, proof, _actor()
        )
        return _recovery(recovery)

    def CompleteRecovery(
        self, request: pb.CompleteRecoveryRequest, context: grpc.ServicerContext
    ) -> pb.Recovery:
        return _recovery(self._identity.complete_recovery(request.citizen_id, _actor()))


def _actor() -> str:
    return actor_of(current_caller())


def _caller_name() -> str:
    return current_caller().name


def _sessions_asker(request: pb.ListSessionsRequest | pb.RevokeSessionRequest) -> SessionsAsker:
    relayed = _proof(request.proof) if request.HasField("proof") else None
    return sessions_asker(current_caller(), relayed)


def _proof(proof: pb.CitizenProof) -> CitizenProof:
    return CitizenProof(citizen_token=proof.citizen_token, activation_code=proof.activation_code)


def _recovery(recovery: RecoveryState) -> pb.Recovery:
    return pb.Recovery(
        citizen_id=recovery.citizen_id,
        status=recovery.status,
        started_at=to_timestamp(recovery.started_at),
        effective_at=to_timestamp(recovery.effective_at),
        activation_code=recovery.activation_code,
        activation_expires_at=(
            to_timestamp(recovery.activation_expires_at) if recovery.activation_expires_at else None
        ),
    )


def _citizen(view: CitizenView) -> pb.Citizen:
    return pb.Citizen(
        citizen_id=view.citizen_id,
        personal_data=pb.PersonalData(**view.personal_data),
        assurance=view.assurance or None,
        eidas_level=IDENTITY_TO_EIDAS.get(view.assurance, ""),
        authenticators=[
            _authenticator(f, locked=view.locked.get(f.authenticator_id, False))
            for f in view.authenticators
        ],
        erased=view.erased,
        activation_code=view.activation_code,
        activation_expires_at=(
            to_timestamp(view.activation_expires_at) if view.activation_expires_at else None
        ),
        already_registered=view.already_registered,
    )


def _authenticator(factor: Factor, *, locked: bool = False) -> pb.Authenticator:
    return pb.Authenticator(
        authenticator_id=factor.authenticator_id,
        method=factor.method,
        locked=locked,
        label=factor.label,
    )


def _authentication_result(signed_in: SignedIn) -> pb.AuthenticationResult:
    return pb.AuthenticationResult(
        session_id=signed_in.session_id,
        token=signed_in.token,
        acr=signed_in.acr,
        amr=signed_in.amr,
        expires_at=to_timestamp(signed_in.expires_at),
        eidas_level=AAL_TO_EIDAS[signed_in.acr],
    )


def _session(session: Session) -> pb.Session:
    return pb.Session(
        session_id=str(session.id),
        citizen_id=session.citizen_id,
        acr=session.acr,
        amr=session.amr,
        started_at=to_timestamp(session.started_at),
        expires_at=to_timestamp(session.expires_at),
        idle_expires_at=to_timestamp(session.idle_expires_at),
        revoked=session.revoked,
    )
