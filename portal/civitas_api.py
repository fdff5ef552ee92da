"""The portal's only way to Civitas: its public gRPC API, through the generated stubs.

Calls the portal makes for itself carry its service account's key (or, under mTLS, its channel
certificate); calls a citizen makes (their history, their cases, a receipt) carry the citizen's
own token, exactly as docs/relying-services.md says a relying service does. Each call sends the
citizen's language, so Civitas' refusals come back in it (google.rpc.LocalizedMessage)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from portal.config import PortalConfig
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import history_pb2_grpc, identity_pb2_grpc, transaction_pb2_grpc
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import transaction_pb2 as tpb

Metadata = tuple[tuple[str, str], ...]
TIMEOUT = 15.0  # seconds for each unary call
Reply = TypeVar("Reply")


@dataclass(frozen=True)
class Refusal(Exception):
    """A call Civitas refused: its code, stable reason and message for the citizen."""

    code: grpc.StatusCode
    reason: str
    message: str

    def __str__(self) -> str:
        return self.message


def refusal(error: grpc.aio.AioRpcError) -> Refusal:
    """The ErrorInfo reason and LocalizedMessage of a refused call (docs/errors.md)."""
    reason, message = "", error.details() or ""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else []:
        info = error_details_pb2.ErrorInfo()
        localized = error_details_pb2.LocalizedMessage()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(localized):
            message = localized.message
    return Refusal(error.code(), reason, message)


def timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


class CivitasApi:
    """The calls the portal makes, one method each, on one grpc.aio channel."""

    def __init__(self, config: PortalConfig) -> None:
        if config.civitas_tls is None:
            self._channel = grpc.aio.insecure_channel(config.target)
        else:
            tls = config.civitas_tls
            credentials = grpc.ssl_channel_credentials(
                root_certificates=tls.ca_cert.read_bytes(),
                private_key=tls.client_key.read_bytes() if tls.client_key else None,
                certificate_chain=tls.client_cert.read_bytes() if tls.client_cert else None,
            )
            self._channel = grpc.aio.secure_channel(config.target, credentials)
        self._identity = identity_pb2_grpc.IdentityServiceStub(self._channel)
        self._history = history_pb2_grpc.HistoryServiceStub(self._channel)
        self._transactions = transaction_pb2_grpc.TransactionServiceStub(self._channel)
        self._service_key = config.api_key

    async def close(self) -> None:
        await self._channel.close(grace=None)

    def _as_portal(self, language: str) -> Metadata:
        key = (("authorization", f"Bearer {self._service_key}"),) if self._service_key else ()
        return (*key, ("accept-language", language))

    @staticmethod
    def _as_citizen(token: str, language: str) -> Metadata:
        return (("authorization", f"Bearer {token}"), ("accept-language", language))

    async def _unary(self, method: object, request: object, metadata: Metadata) -> object:
        try:
            return await method(request, metadata=metadata, timeout=TIMEOUT)  # type: ignore[operator]
        except grpc.aio.AioRpcError as error:
            raise refusal(error) from None

    async def _answer(
        self, method: object, request: object, metadata: Metadata, answer: type[Reply]
    ) -> Reply:
        """A unary call whose reply must be of the `answer` type (mypy knows it from here on)."""
        reply = await self._unary(method, request, metadata)
        assert isinstance(reply, answer)
        return reply

    # --- signing in ------------------------------------------------------------------------

    async def begin_sign_in(
        self, citizen_id: str, required_acr: str, client: ipb.ClientContext, language: str
    ) -> ipb.AuthenticationChallenge:
        request = ipb.BeginAuthenticationRequest(
            citizen_id=citizen_id, required_acr=required_acr, client=client
        )
        return await self._answer(
            self._identity.BeginAuthentication,
            request,
            self._as_portal(language),
            ipb.AuthenticationChallenge,
        )

    async def complete_sign_in(
        self, request: ipb.CompleteAuthenticationRequest, language: str
    ) -> ipb.AuthenticationResult:
        return await self._answer(
            self._identity.CompleteAuthentication,
            request,
            self._as_portal(language),
            ipb.AuthenticationResult,
        )

    async def introspect(self, token: str, language: str) -> ipb.TokenIntrospection:
        request = ipb.IntrospectTokenRequest(token=token)
        return await self._answer(
            self._identity.IntrospectToken,
            request,
            self._as_portal(language),
            ipb.TokenIntrospection,
        )

    async def refresh(
        self, token: str, client: ipb.ClientContext, language: str
    ) -> ipb.AuthenticationResult:
        request = ipb.RefreshSessionRequest(token=token, client=client)
        return await self._answer(
            self._identity.RefreshSession,
            request,
            self._as_portal(language),
            ipb.AuthenticationResult,
        )

    async def set_password(
        self, citizen_id: str, password: str, activation_code: str, language: str
    ) -> None:
        request = ipb.SetPasswordRequest(
            citizen_id=citizen_id,
            password=password,
            proof=ipb.CitizenProof(activation_code=activation_code),
        )
        await self._unary(self._identity.SetPassword, request, self._as_portal(language))

    # --- the citizen's own factors and sessions (their token is the proof) -------------------

    async def begin_totp(self, citizen_id: str, token: str, language: str) -> ipb.TotpEnrollment:
        request = ipb.BeginTotpEnrollmentRequest(
            citizen_id=citizen_id, label="Civitas", proof=ipb.CitizenProof(citizen_token=token)
        )
        return await self._answer(
            self._identity.BeginTotpEnrollment,
            request,
            self._as_portal(language),
            ipb.TotpEnrollment,
        )

    async def confirm_totp(
        self, citizen_id: str, token: str, authenticator_id: str, code: str, language: str
    ) -> None:
        request = ipb.ConfirmTotpEnrollmentRequest(
            citizen_id=citizen_id,
            authenticator_id=authenticator_id,
            code=code,
            proof=ipb.CitizenProof(citizen_token=token),
        )
        await self._unary(self._identity.ConfirmTotpEnrollment, request, self._as_portal(language))

    async def begin_passkey(
        self, citizen_id: str, token: str, label: str, language: str
    ) -> ipb.PasskeyRegistrationOptions:
        request = ipb.BeginPasskeyRegistrationRequest(
            citizen_id=citizen_id, label=label, proof=ipb.CitizenProof(citizen_token=token)
        )
        return await self._answer(
            self._identity.BeginPasskeyRegistration,
            request,
            self._as_portal(language),
            ipb.PasskeyRegistrationOptions,
        )

    async def complete_passkey(
        self, citizen_id: str, token: str, registration_id: str, credential: str, language: str
    ) -> None:
        request = ipb.CompletePasskeyRegistrationRequest(
            citizen_id=citizen_id,
            registration_id=registration_id,
            credential_json=credential,
            proof=ipb.CitizenProof(citizen_token=token),
        )
        await self._unary(
            self._identity.CompletePasskeyRegistration, request, self._as_portal(language)
        )

    async def issue_recovery_codes(self, citizen_id: str, token: str, language: str) -> list[str]:
        request = ipb.IssueRecoveryCodesRequest(
            citizen_id=citizen_id, proof=ipb.CitizenProof(citizen_token=token)
        )
        reply = await self._answer(
            self._identity.IssueRecoveryCodes, request, self._as_portal(language), ipb.RecoveryCodes
        )
        return list(reply.codes)

    async def sessions(self, citizen_id: str, token: str, language: str) -> list[ipb.Session]:
        found: list[ipb.Session] = []
        page_token = ""
        while True:
            request = ipb.ListSessionsRequest(
                citizen_id=citizen_id,
                page_size=64,
                page_token=page_token,
                proof=ipb.CitizenProof(citizen_token=token),
            )
            reply = await self._answer(
                self._identity.ListSessions,
                request,
                self._as_portal(language),
                ipb.ListSessionsResponse,
            )
            found += list(reply.sessions)
            page_token = reply.next_page_token
            if not page_token:
                return found

    async def revoke_session(self, session_id: str, reason: str, token: str, language: str) -> None:
        request = ipb.RevokeSessionRequest(
            session_id=session_id, reason=reason, proof=ipb.CitizenProof(citizen_token=token)
        )
        await self._unary(self._identity.RevokeSession, request, self._as_portal(language))

    # --- history, receipts and cases (the citizen's token alone) -----------------------------

    async def history_page(
        self,
        token: str,
        language: str,
        *,
        kinds: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 50,
        page_token: str = "",
    ) -> hpb.ListMyHistoryResponse:
        request = hpb.ListMyHistoryRequest(
            kinds=list(kinds),
            since=timestamp(since),
            until=timestamp(until),
            page_size=page_size,
            page_token=page_token,
        )
        return await self._answer(
            self._history.ListMyHistory,
            request,
            self._as_citizen(token, language),
            hpb.ListMyHistoryResponse,
        )

    async def receipt(self, token: str, stream: str, version: int, language: str) -> str:
        request = hpb.GetReceiptRequest(stream=stream, version=version)
        reply = await self._answer(
            self._history.GetReceipt, request, self._as_citizen(token, language), hpb.Receipt
        )
        return str(reply.json)

    async def watch(
        self, token: str, after_position: int, language: str
    ) -> AsyncIterator[hpb.HistoryItem]:
        """The citizen's new history items as they happen; ends when their session does."""
        request = hpb.WatchMyHistoryRequest(after_position=after_position)
        call = self._history.WatchMyHistory(request, metadata=self._as_citizen(token, language))
        try:
            async for item in call:
                yield item
        except grpc.aio.AioRpcError as error:
            raise refusal(error) from None
        finally:
            call.cancel()

    async def case(self, token: str, transaction_id: str, language: str) -> tpb.Transaction:
        request = tpb.GetTransactionRequest(transaction_id=transaction_id)
        return await self._answer(
            self._transactions.GetTransaction,
            request,
            self._as_citizen(token, language),
            tpb.Transaction,
        )

    async def withdraw(self, token: str, transaction_id: str, reason: str, language: str) -> None:
        request = tpb.TransitionRequest(transaction_id=transaction_id, reason=reason)
        await self._unary(
            self._transactions.WithdrawTransaction, request, self._as_citizen(token, language)
        )

    async def provide_information(
        self, token: str, transaction_id: str, note: str, language: str
    ) -> None:
        request = tpb.ProvideInformationRequest(transaction_id=transaction_id, note=note)
        await self._unary(
            self._transactions.ProvideInformation, request, self._as_citizen(token, language)
        )
