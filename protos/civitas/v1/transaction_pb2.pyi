import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Amount(_message.Message):
    __slots__ = ("minor_units", "currency")
    MINOR_UNITS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    minor_units: int
    currency: str
    def __init__(self, minor_units: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class StatusChange(_message.Message):
    __slots__ = ("status", "at")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    status: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, status: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("transaction_id", "reference", "service_code", "agency", "citizen_id", "status", "amount", "documents", "history", "submitted_at", "decided_at")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    AGENCY_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    reference: str
    service_code: str
    agency: str
    citizen_id: str
    status: str
    amount: Amount
    documents: _containers.RepeatedScalarFieldContainer[str]
    history: _containers.RepeatedCompositeFieldContainer[StatusChange]
    submitted_at: _timestamp_pb2.Timestamp
    decided_at: _timestamp_pb2.Timestamp
    def __init__(self, transaction_id: _Optional[str] = ..., reference: _Optional[str] = ..., service_code: _Optional[str] = ..., agency: _Optional[str] = ..., citizen_id: _Optional[str] = ..., status: _Optional[str] = ..., amount: _Optional[_Union[Amount, _Mapping]] = ..., documents: _Optional[_Iterable[str]] = ..., history: _Optional[_Iterable[_Union[StatusChange, _Mapping]]] = ..., submitted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SubmitTransactionRequest(_message.Message):
    __slots__ = ("idempotency_key", "service_code", "citizen_id", "amount", "documents", "note")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    service_code: str
    citizen_id: str
    amount: Amount
    documents: _containers.RepeatedScalarFieldContainer[str]
    note: str
    def __init__(self, idempotency_key: _Optional[str] = ..., service_code: _Optional[str] = ..., citizen_id: _Optional[str] = ..., amount: _Optional[_Union[Amount, _Mapping]] = ..., documents: _Optional[_Iterable[str]] = ..., note: _Optional[str] = ...) -> None: ...

class TransitionRequest(_message.Message):
    __slots__ = ("transaction_id", "reason")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    reason: str
    def __init__(self, transaction_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ProvideInformationRequest(_message.Message):
    __slots__ = ("transaction_id", "documents", "note")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    documents: _containers.RepeatedScalarFieldContainer[str]
    note: str
    def __init__(self, transaction_id: _Optional[str] = ..., documents: _Optional[_Iterable[str]] = ..., note: _Optional[str] = ...) -> None: ...

class GetTransactionRequest(_message.Message):
    __slots__ = ("transaction_id", "purpose")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    purpose: str
    def __init__(self, transaction_id: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class ListTransactionsRequest(_message.Message):
    __slots__ = ("statuses", "page_size", "page_token")
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedScalarFieldContainer[str]
    page_size: int
    page_token: str
    def __init__(self, statuses: _Optional[_Iterable[str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class QueuedTransaction(_message.Message):
    __slots__ = ("transaction_id", "reference", "service_code", "status", "age_days", "sla_days", "overdue", "submitted_at")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    SLA_DAYS_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    reference: str
    service_code: str
    status: str
    age_days: int
    sla_days: int
    overdue: bool
    submitted_at: _timestamp_pb2.Timestamp
    def __init__(self, transaction_id: _Optional[str] = ..., reference: _Optional[str] = ..., service_code: _Optional[str] = ..., status: _Optional[str] = ..., age_days: _Optional[int] = ..., sla_days: _Optional[int] = ..., overdue: _Optional[bool] = ..., submitted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTransactionsResponse(_message.Message):
    __slots__ = ("transactions", "next_page_token")
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[QueuedTransaction]
    next_page_token: str
    def __init__(self, transactions: _Optional[_Iterable[_Union[QueuedTransaction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchTransactionRequest(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...
