"""A small typed client for the Civitas gRPC API, one method per step a relying service takes.

It wraps the generated stubs (`protos/civitas/v1`) and nothing more: each method sends one call
(or the two of a begin/complete ceremony) and returns a plain value or the response message.
Errors stay `grpc.RpcError`; `describe_error` turns one into a line a person can read, and
`error_reason` / `retry_delay` read the `google.rpc` details a program branches on
(docs/errors.md). A call refused with ABORTED (another request changed the same thing at the
same moment; nothing was written) is made again, a few times, before its error is raised.

Service accounts authenticate with their API key (`authorization: Bearer cvk.…`) or, under mTLS,
with the channel's client certificate (`api_key=None`). Calls a citizen makes themself
(HistoryService, withdrawing a case) take the citizen's JWT instead.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from civitas.soft_authenticator import SoftAuthenticator
from civitas.totp_app import TotpApp
from protos.civitas.v1 import audit_pb2 as apb
from protos.civitas.v1 import (
    audit_pb2_grpc,
    history_pb2_grpc,
    identity_pb2_grpc,
    transaction_pb2_grpc,
)
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import transaction_pb2 as tpb

Metadata = list[tuple[str, str]]
ERROR_DOMAIN = "civitas"
ABORTED_RETRIES = 3  # the server already retried each save many times; a few more calls will do
ReplyT = TypeVar("ReplyT", bound=Message)


@dataclass(frozen=True)
class ClientTls:
    """TLS for the channel: the CA that signed the server's certificate and, for mTLS, the
    caller's own certificate and key (PEM files)."""

    ca_cert: Path
    client_cert: Path | None = None
    client_key: Path | None = None

    def __post_init__(self) -> None:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("a client certificate and its key go together")


def channel_for(target: str, tls: ClientTls | None = None) -> grpc.Channel:
    """A channel to `target` (HOST:PORT): plaintext without `tls`, else TLS or mTLS."""
    if tls is None:
        return grpc.insecure_channel(target)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.ca_cert.read_bytes(),
        private_key=tls.client_key.read_bytes() if tls.client_key else None,
        certificate_chain=tls.client_cert.read_bytes() if tls.client_cert else None,
    )
    return grpc.secure_channel(target, credentials)


def bearer(token: str) -> Metadata:
    return [("authorization", f"Bearer {token}")]


def describe_error(error: grpc.RpcError) -> str:
    """`CODE: message (field: why, …) [REASON]`, from the google.rpc.Status the server attaches."""
    code = error.code() if isinstance(error, grpc.Call) else None
    details = error.details() if isinstance(error, grpc.Call) else str(error)
    text = f"{code.name if code else 'ERROR'}: {details}"
    violations: list[str] = []
    for detail in _details(error):
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            violations += [f"{v.field}: {v.description}" for v in bad_request.field_violations]
    unsaid = [v for v in violations if v not in text]  # the message often names them already
    text = f"{text} ({'; '.join(unsaid)})" if unsaid else text
    reason = error_reason(error)
    return f"{text} [{reason}]" if reason else text


def error_reason(error: grpc.RpcError) -> str:
    """The refusal's stable reason (google.rpc.ErrorInfo in domain civitas), or "" if none."""
    for detail in _details(error):
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
            return str(info.reason)
    return ""


def retry_delay(error: grpc.RpcError) -> float | None:
    """Seconds the server asks the caller to wait before retrying (google.rpc.RetryInfo)."""
    for detail in _details(error):
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return float(info.retry_delay.ToNanoseconds()) / 1e9
    return None


def _details(error: grpc.RpcError) -> list[any_pb2.Any]:
    status = rpc_status.from_call(error) if isinstance(error, grpc.Call) else None
    return list(status.details) if status else []


def _code(error: grpc.RpcError) -> grpc.StatusCode | None:
    return error.code() if isinstance(error, grpc.Call) else None


class CivitasClient:
    """IdentityService, TransactionService, HistoryService and AuditService on one channel."""

    def __init__(
        self, channel: grpc.Channel, api_key: str | None, *, timeout: float | None = 30.0
    ) -> None:
        """`timeout` is each call's deadline in seconds (None: wait for ever)."""
        self._identity = identity_pb2_grpc.IdentityServiceStub(channel)
        self._transactions = transaction_pb2_grpc.TransactionServiceStub(channel)
        self._history = history_pb2_grpc.HistoryServiceStub(channel)
        self._audit = audit_pb2_grpc.AuditServiceStub(channel)
        self._md: Metadata = bearer(api_key) if api_key else []
        self._timeout = timeout

    # --- citizens ---------------------------------------------------------------------------

    def register_citizen(
        self,
        personal_data: Mapping[str, str],
        assurance: str = "IAL2",
        evidence: str = "",
    ) -> str:
        """Register a citizen (fields of `PersonalData`); returns the new citizen id."""
        request = ipb.RegisterCitizenRequest(
            personal_data=ipb.PersonalData(**personal_data),
            assurance=assurance,
            evidence=evidence,
        )
        return self._call(self._identity.RegisterCitizen, request, ipb.Citizen).citizen_id

    # --- authenticators ---------------------------------------------------------------------

    def set_password(self, citizen_id: str, password: str) -> ipb.Authenticator:
        request = ipb.SetPasswordRequest(citizen_id=citizen_id, password=password)
        return self._call(self._identity.SetPassword, request, ipb.Authenticator)

    def begin_totp_enrolment(
        self, citizen_id: str, label: str = "", account_name: str = ""
    ) -> ipb.TotpEnrollment:
        request = ipb.BeginTotpEnrollmentRequest(
            citizen_id=citizen_id, label=label, account_name=account_name
        )
        return self._call(self._identity.BeginTotpEnrollment, request, ipb.TotpEnrollment)

    def confirm_totp_enrolment(
        self, citizen_id: str, authenticator_id: str, code: str
    ) -> ipb.Authenticator:
        request = ipb.ConfirmTotpEnrollmentRequest(
            citizen_id=citizen_id, authenticator_id=authenticator_id, code=code
        )
        return self._call(self._identity.ConfirmTotpEnrollment, request, ipb.Authenticator)

    def enrol_totp(self, citizen_id: str, label: str = "authenticator app") -> TotpApp:
        """Begin an enrolment, load the URI into an app as the citizen would, confirm with its
        code; returns the app, which remembers the step the confirmation spent."""
        enrollment = self.begin_totp_enrolment(citizen_id, label)
        app = TotpApp(enrollment.provisioning_uri, enrollment.authenticator_id)
        self.confirm_totp_enrolment(citizen_id, enrollment.authenticator_id, app.next_code())
        return app

    def enrol_passkey(
        self,
        citizen_id: str,
        authenticator: SoftAuthenticator,
        label: str = "passkey",
        account_name: str = "",
    ) -> ipb.Authenticator:
        """WebAuthn registration: the server's creation options go to the authenticator, its
        attestation comes back. *account_name* is what the citizen's device lists it under."""
        begin = ipb.BeginPasskeyRegistrationRequest(
            citizen_id=citizen_id, label=label, account_name=account_name
        )
        options = self._call(
            self._identity.BeginPasskeyRegistration, begin, ipb.PasskeyRegistrationOptions
        )
        complete = ipb.CompletePasskeyRegistrationRequest(
            citizen_id=citizen_id,
            registration_id=options.registration_id,
            credential_json=authenticator.create(options.options_json),
        )
        return self._call(self._identity.CompletePasskeyRegistration, complete, ipb.Authenticator)

    def issue_recovery_codes(self, citizen_id: str) -> list[str]:
        request = ipb.IssueRecoveryCodesRequest(citizen_id=citizen_id)
        return list(self._call(self._identity.IssueRecoveryCodes, request, ipb.RecoveryCodes).codes)

    # --- authentication and tokens ----------------------------------------------------------

    def begin_authentication(
        self,
        citizen_id: str,
        client: ipb.ClientContext | None = None,
        *,
        required_acr: str = "",
        require_user_verification: bool = False,
    ) -> ipb.AuthenticationChallenge:
        """Open an attempt; an empty *citizen_id* offers any discoverable passkey. A sign-in
        below *required_acr* is refused (ASSURANCE_TOO_LOW)."""
        request = ipb.BeginAuthenticationRequest(
            citizen_id=citizen_id,
            client=client,
            required_acr=required_acr,
            require_user_verification=require_user_verification,
        )
        return self._call(self._identity.BeginAuthentication, request, ipb.AuthenticationChallenge)

    def complete_authentication(
        self,
        attempt_id: str,
        *,
        password: str = "",
        totp_code: str = "",
        passkey_assertion_json: str = "",
        recovery_code: str = "",
        client: ipb.ClientContext | None = None,
    ) -> ipb.AuthenticationResult:
        request = ipb.CompleteAuthenticationRequest(
            attempt_id=attempt_id,
            password=password,
            totp_code=totp_code,
            passkey_assertion_json=passkey_assertion_json,
            recovery_code=recovery_code,
            client=client,
        )
        return self._call(self._identity.CompleteAuthentication, request, ipb.AuthenticationResult)

    def authenticate_password(
        self, citizen_id: str, password: str, client: ipb.ClientContext | None = None
    ) -> ipb.AuthenticationResult:
        """One factor: AAL1."""
        challenge = self.begin_authentication(citizen_id, client)
        return self.complete_authentication(challenge.attempt_id, password=password, client=client)

    def authenticate_totp(
        self,
        citizen_id: str,
        totp: TotpApp,
        password: str = "",
        client: ipb.ClientContext | None = None,
    ) -> ipb.AuthenticationResult:
        """The app's next code, with the password when given (two factors: AAL2)."""
        challenge = self.begin_authentication(citizen_id, client)
        return self.complete_authentication(
            challenge.attempt_id, password=password, totp_code=totp.next_code(), client=client
        )

    def authenticate_passkey(
        self,
        citizen_id: str,
        authenticator: SoftAuthenticator,
        client: ipb.ClientContext | None = None,
        required_acr: str = "",
    ) -> ipb.AuthenticationResult:
        """A user-verified passkey: AAL2; AAL3 only when attested by an allow-listed model and
        the server allows AAL3. An empty *citizen_id* signs in username-less."""
        challenge = self.begin_authentication(citizen_id, client, required_acr=required_acr)
        assertion = authenticator.get(challenge.passkey_options_json)
        return self.complete_authentication(
            challenge.attempt_id, passkey_assertion_json=assertion, client=client
        )

    def introspect(self, token: str) -> ipb.TokenIntrospection:
        request = ipb.IntrospectTokenRequest(token=token)
        return self._call(self._identity.IntrospectToken, request, ipb.TokenIntrospection)

    def refresh_session(
        self, token: str, client: ipb.ClientContext | None = None
    ) -> ipb.AuthenticationResult:
        """A new token for the citizen's session (before `token` expires); `token` is no longer
        accepted afterwards. Presenting it again revokes the whole session."""
        request = ipb.RefreshSessionRequest(token=token, client=client)
        return self._call(self._identity.RefreshSession, request, ipb.AuthenticationResult)

    # --- transactions (the agency) ----------------------------------------------------------

    def submit_transaction(
        self,
        service_code: str,
        citizen_id: str,
        idempotency_key: str,
        *,
        amount: tuple[int, str] | None = None,
        documents: Sequence[str] = (),
        note: str = "",
    ) -> tpb.Transaction:
        """`amount` is (minor units, ISO 4217 currency); `documents` are SHA-256 hex digests."""
        request = tpb.SubmitTransactionRequest(
            idempotency_key=idempotency_key,
            service_code=service_code,
            citizen_id=citizen_id,
            documents=list(documents),
            note=note,
        )
        if amount is not None:
            request.amount.CopyFrom(tpb.Amount(minor_units=amount[0], currency=amount[1]))
        return self._call(self._transactions.SubmitTransaction, request, tpb.Transaction)

    def start_review(self, transaction_id: str, reason: str) -> tpb.Transaction:
        return self._transition(self._transactions.StartReview, transaction_id, reason)

    def request_information(self, transaction_id: str, reason: str) -> tpb.Transaction:
        return self._transition(self._transactions.RequestInformation, transaction_id, reason)

    def resume_review(self, transaction_id: str, reason: str) -> tpb.Transaction:
        return self._transition(self._transactions.ResumeReview, transaction_id, reason)

    def approve(self, transaction_id: str, reason: str) -> tpb.Transaction:
        return self._transition(self._transactions.ApproveTransaction, transaction_id, reason)

    def reject(self, transaction_id: str, reason: str) -> tpb.Transaction:
        return self._transition(self._transactions.RejectTransaction, transaction_id, reason)

    def complete(self, transaction_id: str, reason: str) -> tpb.Transaction:
        return self._transition(self._transactions.CompleteTransaction, transaction_id, reason)

    def get_transaction(self, transaction_id: str, purpose: str) -> tpb.Transaction:
        request = tpb.GetTransactionRequest(transaction_id=transaction_id, purpose=purpose)
        return self._call(self._transactions.GetTransaction, request, tpb.Transaction)

    def list_transactions(
        self, statuses: Sequence[str] = (), page_size: int = 0, page_token: str = ""
    ) -> tpb.ListTransactionsResponse:
        request = tpb.ListTransactionsRequest(
            statuses=list(statuses), page_size=page_size, page_token=page_token
        )
        return self._call(
            self._transactions.ListTransactions, request, tpb.ListTransactionsResponse
        )

    # --- the citizen's own calls (their JWT, not the service's key) -------------------------

    def withdraw(self, citizen_token: str, transaction_id: str, reason: str) -> tpb.Transaction:
        request = _step(transaction_id, reason)
        withdraw = self._transactions.WithdrawTransaction
        return self._call(withdraw, request, tpb.Transaction, bearer(citizen_token))

    def provide_information(
        self, citizen_token: str, transaction_id: str, documents: Sequence[str], note: str = ""
    ) -> tpb.Transaction:
        request = tpb.ProvideInformationRequest(
            transaction_id=transaction_id, documents=list(documents), note=note
        )
        provide = self._transactions.ProvideInformation
        return self._call(provide, request, tpb.Transaction, bearer(citizen_token))

    def my_transaction(self, citizen_token: str, transaction_id: str) -> tpb.Transaction:
        request = tpb.GetTransactionRequest(transaction_id=transaction_id)
        get = self._transactions.GetTransaction
        return self._call(get, request, tpb.Transaction, bearer(citizen_token))

    def history(
        self,
        citizen_token: str,
        kinds: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[hpb.HistoryItem]:
        """Every page of the citizen's history, oldest first (as far as the projection has
        followed the log: a write appears within moments, not at once); `since` inclusive,
        `until` exclusive, both aware datetimes."""
        items: list[hpb.HistoryItem] = []
        page_token = ""
        while True:
            request = hpb.ListMyHistoryRequest(
                kinds=list(kinds), since=since, until=until, page_size=500, page_token=page_token
            )
            page = self._call(
                self._history.ListMyHistory,
                request,
                hpb.ListMyHistoryResponse,
                bearer(citizen_token),
            )
            items.extend(page.items)
            page_token = page.next_page_token
            if not page_token:
                return items

    def receipt(self, citizen_token: str, stream: str, version: int, wait: float = 0.0) -> str:
        """The receipt (JSON, as `civitas-verify receipt` reads it) of one of the citizen's
        entries. An entry gets one once a signed checkpoint covers it, about a second after
        the write; `wait` is how many seconds to keep asking meanwhile."""
        request = hpb.GetReceiptRequest(stream=stream, version=version)
        deadline = time.monotonic() + wait
        while True:
            try:
                get = self._history.GetReceipt
                return self._call(get, request, hpb.Receipt, bearer(citizen_token)).json
            except grpc.RpcError as error:
                left = deadline - time.monotonic()
                not_yet = (
                    _code(error) == grpc.StatusCode.UNAVAILABLE
                    and error_reason(error) == "NOT_YET_SEQUENCED"
                )
                if not not_yet or left <= 0:
                    raise
                time.sleep(min(retry_delay(error) or 0.1, left))

    # --- the verifiable log (auditor) -------------------------------------------------------

    def latest_checkpoint(self) -> apb.Checkpoint:
        return self._call(
            self._audit.GetLatestCheckpoint, apb.GetLatestCheckpointRequest(), apb.Checkpoint
        )

    def keyring(self) -> apb.Keyring:
        return self._call(self._audit.GetKeyring, apb.GetKeyringRequest(), apb.Keyring)

    def entries(self, from_index: int = 0, to_index: int = 0) -> Iterator[apb.LedgerEntry]:
        """Leaves `from_index` up to `to_index` (exclusive; 0: the current tree size), in order."""
        request = apb.StreamEntriesRequest(from_index=from_index, to_index=to_index)
        # A stream has no deadline: a large log takes as long as it takes.
        for entry in self._audit.StreamEntries(request, metadata=self._md):
            yield _expect(apb.LedgerEntry, entry)

    def _transition(
        self, method: Callable[..., object], transaction_id: str, reason: str
    ) -> tpb.Transaction:
        return self._call(method, _step(transaction_id, reason), tpb.Transaction)

    def _call(
        self,
        method: Callable[..., object],
        request: Message,
        reply: type[ReplyT],
        metadata: Metadata | None = None,
    ) -> ReplyT:
        """One unary call with the service's credentials (or `metadata`), its reply typed;
        made again when it was aborted by a concurrent change (which wrote nothing)."""
        credentials = self._md if metadata is None else metadata
        for retry in range(ABORTED_RETRIES):
            try:
                return _expect(reply, method(request, metadata=credentials, timeout=self._timeout))
            except grpc.RpcError as error:
                if _code(error) != grpc.StatusCode.ABORTED:
                    raise
            time.sleep(random.uniform(0, 0.05) * (retry + 1))  # noqa: S311 - jitter, not secrecy
        return _expect(reply, method(request, metadata=credentials, timeout=self._timeout))


def _expect(kind: type[ReplyT], value: object) -> ReplyT:
    # The generated stubs are untyped; this keeps a wrong wiring from passing silently.
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _step(transaction_id: str, reason: str) -> tpb.TransitionRequest:
    return tpb.TransitionRequest(transaction_id=transaction_id, reason=reason)
