import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IdentityAssurance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IDENTITY_ASSURANCE_UNSPECIFIED: _ClassVar[IdentityAssurance]
    IAL1: _ClassVar[IdentityAssurance]
    IAL2: _ClassVar[IdentityAssurance]
    IAL3: _ClassVar[IdentityAssurance]
IDENTITY_ASSURANCE_UNSPECIFIED: IdentityAssurance
IAL1: IdentityAssurance
IAL2: IdentityAssurance
IAL3: IdentityAssurance

class ClientContext(_message.Message):
    __slots__ = ("address", "user_agent")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    address: str
    user_agent: str
    def __init__(self, address: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...

class PersonalData(_message.Message):
    __slots__ = ("given_name", "family_name", "birth_date", "email", "phone", "national_identifier")
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    NATIONAL_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    given_name: str
    family_name: str
    birth_date: str
    email: str
    phone: str
    national_identifier: str
    def __init__(self, given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., birth_date: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., national_identifier: _Optional[str] = ...) -> None: ...

class RegisterCitizenRequest(_message.Message):
    __slots__ = ("personal_data", "assurance", "evidence")
    PERSONAL_DATA_FIELD_NUMBER: _ClassVar[int]
    ASSURANCE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    personal_data: PersonalData
    assurance: IdentityAssurance
    evidence: str
    def __init__(self, personal_data: _Optional[_Union[PersonalData, _Mapping]] = ..., assurance: _Optional[_Union[IdentityAssurance, str]] = ..., evidence: _Optional[str] = ...) -> None: ...

class Citizen(_message.Message):
    __slots__ = ("citizen_id", "personal_data", "assurance", "authenticators", "erased", "eidas_level", "activation_code", "activation_expires_at", "already_registered")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    PERSONAL_DATA_FIELD_NUMBER: _ClassVar[int]
    ASSURANCE_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATORS_FIELD_NUMBER: _ClassVar[int]
    ERASED_FIELD_NUMBER: _ClassVar[int]
    EIDAS_LEVEL_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_CODE_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ALREADY_REGISTERED_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    personal_data: PersonalData
    assurance: IdentityAssurance
    authenticators: _containers.RepeatedCompositeFieldContainer[Authenticator]
    erased: bool
    eidas_level: str
    activation_code: str
    activation_expires_at: _timestamp_pb2.Timestamp
    already_registered: bool
    def __init__(self, citizen_id: _Optional[str] = ..., personal_data: _Optional[_Union[PersonalData, _Mapping]] = ..., assurance: _Optional[_Union[IdentityAssurance, str]] = ..., authenticators: _Optional[_Iterable[_Union[Authenticator, _Mapping]]] = ..., erased: _Optional[bool] = ..., eidas_level: _Optional[str] = ..., activation_code: _Optional[str] = ..., activation_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., already_registered: _Optional[bool] = ...) -> None: ...

class Authenticator(_message.Message):
    __slots__ = ("authenticator_id", "method", "locked", "label")
    AUTHENTICATOR_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    authenticator_id: str
    method: str
    locked: bool
    label: str
    def __init__(self, authenticator_id: _Optional[str] = ..., method: _Optional[str] = ..., locked: _Optional[bool] = ..., label: _Optional[str] = ...) -> None: ...

class GetCitizenRequest(_message.Message):
    __slots__ = ("citizen_id", "purpose")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    purpose: str
    def __init__(self, citizen_id: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class FindCitizenRequest(_message.Message):
    __slots__ = ("national_identifier", "purpose")
    NATIONAL_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    national_identifier: str
    purpose: str
    def __init__(self, national_identifier: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class SetPasswordRequest(_message.Message):
    __slots__ = ("citizen_id", "password", "proof")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    password: str
    proof: CitizenProof
    def __init__(self, citizen_id: _Optional[str] = ..., password: _Optional[str] = ..., proof: _Optional[_Union[CitizenProof, _Mapping]] = ...) -> None: ...

class BeginTotpEnrollmentRequest(_message.Message):
    __slots__ = ("citizen_id", "label", "account_name", "proof")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    label: str
    account_name: str
    proof: CitizenProof
    def __init__(self, citizen_id: _Optional[str] = ..., label: _Optional[str] = ..., account_name: _Optional[str] = ..., proof: _Optional[_Union[CitizenProof, _Mapping]] = ...) -> None: ...

class TotpEnrollment(_message.Message):
    __slots__ = ("authenticator_id", "provisioning_uri", "qr_svg", "qr_png")
    AUTHENTICATOR_ID_FIELD_NUMBER: _ClassVar[int]
    PROVISIONING_URI_FIELD_NUMBER: _ClassVar[int]
    QR_SVG_FIELD_NUMBER: _ClassVar[int]
    QR_PNG_FIELD_NUMBER: _ClassVar[int]
    authenticator_id: str
    provisioning_uri: str
    qr_svg: str
    qr_png: bytes
    def __init__(self, authenticator_id: _Optional[str] = ..., provisioning_uri: _Optional[str] = ..., qr_svg: _Optional[str] = ..., qr_png: _Optional[bytes] = ...) -> None: ...

class ConfirmTotpEnrollmentRequest(_message.Message):
    __slots__ = ("citizen_id", "authenticator_id", "code", "proof")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATOR_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    authenticator_id: str
    code: str
    proof: CitizenProof
    def __init__(self, citizen_id: _Optional[str] = ..., authenticator_id: _Optional[str] = ..., code: _Optional[str] = ..., proof: _Optional[_Union[CitizenProof, _Mapping]] = ...) -> None: ...

class BeginPasskeyRegistrationRequest(_message.Message):
    __slots__ = ("citizen_id", "label", "account_name", "proof")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    label: str
    account_name: str
    proof: CitizenProof
    def __init__(self, citizen_id: _Optional[str] = ..., label: _Optional[str] = ..., account_name: _Optional[str] = ..., proof: _Optional[_Union[CitizenProof, _Mapping]] = ...) -> None: ...

class PasskeyRegistrationOptions(_message.Message):
    __slots__ = ("registration_id", "options_json")
    REGISTRATION_ID_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_JSON_FIELD_NUMBER: _ClassVar[int]
    registration_id: str
    options_json: str
    def __init__(self, registration_id: _Optional[str] = ..., options_json: _Optional[str] = ...) -> None: ...

class CompletePasskeyRegistrationRequest(_message.Message):
    __slots__ = ("citizen_id", "registration_id", "credential_json", "proof")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_JSON_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    registration_id: str
    credential_json: str
    proof: CitizenProof
    def __init__(self, citizen_id: _Optional[str] = ..., registration_id: _Optional[str] = ..., credential_json: _Optional[str] = ..., proof: _Optional[_Union[CitizenProof, _Mapping]] = ...) -> None: ...

class IssueRecoveryCodesRequest(_message.Message):
    __slots__ = ("citizen_id", "proof")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    proof: CitizenProof
    def __init__(self, citizen_id: _Optional[str] = ..., proof: _Optional[_Union[CitizenProof, _Mapping]] = ...) -> None: ...

class RecoveryCodes(_message.Message):
    __slots__ = ("codes",)
    CODES_FIELD_NUMBER: _ClassVar[int]
    codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, codes: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveAuthenticatorRequest(_message.Message):
    __slots__ = ("citizen_id", "authenticator_id", "proof")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATOR_ID_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    authenticator_id: str
    proof: CitizenProof
    def __init__(self, citizen_id: _Optional[str] = ..., authenticator_id: _Optional[str] = ..., proof: _Optional[_Union[CitizenProof, _Mapping]] = ...) -> None: ...

class BeginAuthenticationRequest(_message.Message):
    __slots__ = ("citizen_id", "client", "required_acr", "require_user_verification")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_ACR_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_USER_VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    client: ClientContext
    required_acr: str
    require_user_verification: bool
    def __init__(self, citizen_id: _Optional[str] = ..., client: _Optional[_Union[ClientContext, _Mapping]] = ..., required_acr: _Optional[str] = ..., require_user_verification: _Optional[bool] = ...) -> None: ...

class AuthenticationChallenge(_message.Message):
    __slots__ = ("attempt_id", "available_methods", "passkey_options_json", "expires_at")
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_METHODS_FIELD_NUMBER: _ClassVar[int]
    PASSKEY_OPTIONS_JSON_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    attempt_id: str
    available_methods: _containers.RepeatedScalarFieldContainer[str]
    passkey_options_json: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, attempt_id: _Optional[str] = ..., available_methods: _Optional[_Iterable[str]] = ..., passkey_options_json: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CompleteAuthenticationRequest(_message.Message):
    __slots__ = ("attempt_id", "password", "totp_code", "passkey_assertion_json", "recovery_code", "client")
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TOTP_CODE_FIELD_NUMBER: _ClassVar[int]
    PASSKEY_ASSERTION_JSON_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_CODE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    attempt_id: str
    password: str
    totp_code: str
    passkey_assertion_json: str
    recovery_code: str
    client: ClientContext
    def __init__(self, attempt_id: _Optional[str] = ..., password: _Optional[str] = ..., totp_code: _Optional[str] = ..., passkey_assertion_json: _Optional[str] = ..., recovery_code: _Optional[str] = ..., client: _Optional[_Union[ClientContext, _Mapping]] = ...) -> None: ...

class AuthenticationResult(_message.Message):
    __slots__ = ("session_id", "token", "acr", "amr", "eidas_level", "expires_at")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACR_FIELD_NUMBER: _ClassVar[int]
    AMR_FIELD_NUMBER: _ClassVar[int]
    EIDAS_LEVEL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    token: str
    acr: str
    amr: _containers.RepeatedScalarFieldContainer[str]
    eidas_level: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, session_id: _Optional[str] = ..., token: _Optional[str] = ..., acr: _Optional[str] = ..., amr: _Optional[_Iterable[str]] = ..., eidas_level: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IntrospectTokenRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class TokenIntrospection(_message.Message):
    __slots__ = ("active", "citizen_id", "session_id", "acr", "amr", "reason", "expires_at")
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ACR_FIELD_NUMBER: _ClassVar[int]
    AMR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    active: bool
    citizen_id: str
    session_id: str
    acr: str
    amr: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, active: _Optional[bool] = ..., citizen_id: _Optional[str] = ..., session_id: _Optional[str] = ..., acr: _Optional[str] = ..., amr: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RefreshSessionRequest(_message.Message):
    __slots__ = ("token", "client")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    token: str
    client: ClientContext
    def __init__(self, token: _Optional[str] = ..., client: _Optional[_Union[ClientContext, _Mapping]] = ...) -> None: ...

class RevokeSessionRequest(_message.Message):
    __slots__ = ("session_id", "reason", "proof")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    reason: str
    proof: CitizenProof
    def __init__(self, session_id: _Optional[str] = ..., reason: _Optional[str] = ..., proof: _Optional[_Union[CitizenProof, _Mapping]] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("session_id", "citizen_id", "acr", "amr", "revoked", "started_at", "expires_at", "idle_expires_at")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    ACR_FIELD_NUMBER: _ClassVar[int]
    AMR_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    IDLE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    citizen_id: str
    acr: str
    amr: _containers.RepeatedScalarFieldContainer[str]
    revoked: bool
    started_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    idle_expires_at: _timestamp_pb2.Timestamp
    def __init__(self, session_id: _Optional[str] = ..., citizen_id: _Optional[str] = ..., acr: _Optional[str] = ..., amr: _Optional[_Iterable[str]] = ..., revoked: _Optional[bool] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idle_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("citizen_id", "page_size", "page_token", "proof")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    page_size: int
    page_token: str
    proof: CitizenProof
    def __init__(self, citizen_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., proof: _Optional[_Union[CitizenProof, _Mapping]] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    next_page_token: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetJwksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Jwks(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class UnlockFactorRequest(_message.Message):
    __slots__ = ("citizen_id", "method", "reason")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    method: str
    reason: str
    def __init__(self, citizen_id: _Optional[str] = ..., method: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class EraseCitizenRequest(_message.Message):
    __slots__ = ("citizen_id", "reason")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    reason: str
    def __init__(self, citizen_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CitizenProof(_message.Message):
    __slots__ = ("citizen_token", "activation_code")
    CITIZEN_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_CODE_FIELD_NUMBER: _ClassVar[int]
    citizen_token: str
    activation_code: str
    def __init__(self, citizen_token: _Optional[str] = ..., activation_code: _Optional[str] = ...) -> None: ...

class StartRecoveryRequest(_message.Message):
    __slots__ = ("citizen_id", "reason", "evidence_reference")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    reason: str
    evidence_reference: str
    def __init__(self, citizen_id: _Optional[str] = ..., reason: _Optional[str] = ..., evidence_reference: _Optional[str] = ...) -> None: ...

class CancelRecoveryRequest(_message.Message):
    __slots__ = ("citizen_id", "reason", "proof")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    reason: str
    proof: CitizenProof
    def __init__(self, citizen_id: _Optional[str] = ..., reason: _Optional[str] = ..., proof: _Optional[_Union[CitizenProof, _Mapping]] = ...) -> None: ...

class CompleteRecoveryRequest(_message.Message):
    __slots__ = ("citizen_id",)
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    def __init__(self, citizen_id: _Optional[str] = ...) -> None: ...

class Recovery(_message.Message):
    __slots__ = ("citizen_id", "status", "started_at", "effective_at", "activation_code", "activation_expires_at")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_AT_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_CODE_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    status: str
    started_at: _timestamp_pb2.Timestamp
    effective_at: _timestamp_pb2.Timestamp
    activation_code: str
    activation_expires_at: _timestamp_pb2.Timestamp
    def __init__(self, citizen_id: _Optional[str] = ..., status: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., effective_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., activation_code: _Optional[str] = ..., activation_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
