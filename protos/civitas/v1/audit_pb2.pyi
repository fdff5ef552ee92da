from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Checkpoint(_message.Message):
    __slots__ = ("note", "tree_size", "root_hash")
    NOTE_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_HASH_FIELD_NUMBER: _ClassVar[int]
    note: str
    tree_size: int
    root_hash: bytes
    def __init__(self, note: _Optional[str] = ..., tree_size: _Optional[int] = ..., root_hash: _Optional[bytes] = ...) -> None: ...

class GetLatestCheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetInclusionProofRequest(_message.Message):
    __slots__ = ("index", "tree_size")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    index: int
    tree_size: int
    def __init__(self, index: _Optional[int] = ..., tree_size: _Optional[int] = ...) -> None: ...

class InclusionProof(_message.Message):
    __slots__ = ("index", "tree_size", "leaf_hash", "hashes")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    index: int
    tree_size: int
    leaf_hash: bytes
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, index: _Optional[int] = ..., tree_size: _Optional[int] = ..., leaf_hash: _Optional[bytes] = ..., hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetConsistencyProofRequest(_message.Message):
    __slots__ = ("from_size", "to_size")
    FROM_SIZE_FIELD_NUMBER: _ClassVar[int]
    TO_SIZE_FIELD_NUMBER: _ClassVar[int]
    from_size: int
    to_size: int
    def __init__(self, from_size: _Optional[int] = ..., to_size: _Optional[int] = ...) -> None: ...

class ConsistencyProof(_message.Message):
    __slots__ = ("from_size", "to_size", "hashes")
    FROM_SIZE_FIELD_NUMBER: _ClassVar[int]
    TO_SIZE_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    from_size: int
    to_size: int
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, from_size: _Optional[int] = ..., to_size: _Optional[int] = ..., hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class StreamEntriesRequest(_message.Message):
    __slots__ = ("from_index", "to_index")
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    TO_INDEX_FIELD_NUMBER: _ClassVar[int]
    from_index: int
    to_index: int
    def __init__(self, from_index: _Optional[int] = ..., to_index: _Optional[int] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("index", "entry", "signature", "payload")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    index: int
    entry: str
    signature: bytes
    payload: bytes
    def __init__(self, index: _Optional[int] = ..., entry: _Optional[str] = ..., signature: _Optional[bytes] = ..., payload: _Optional[bytes] = ...) -> None: ...

class GetKeyringRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EntryKey(_message.Message):
    __slots__ = ("kid", "public_key", "not_before", "not_after")
    KID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    kid: str
    public_key: bytes
    not_before: str
    not_after: str
    def __init__(self, kid: _Optional[str] = ..., public_key: _Optional[bytes] = ..., not_before: _Optional[str] = ..., not_after: _Optional[str] = ...) -> None: ...

class Keyring(_message.Message):
    __slots__ = ("entry_keys", "checkpoint_keys", "origin", "json")
    ENTRY_KEYS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_KEYS_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    entry_keys: _containers.RepeatedCompositeFieldContainer[EntryKey]
    checkpoint_keys: _containers.RepeatedScalarFieldContainer[str]
    origin: str
    json: str
    def __init__(self, entry_keys: _Optional[_Iterable[_Union[EntryKey, _Mapping]]] = ..., checkpoint_keys: _Optional[_Iterable[str]] = ..., origin: _Optional[str] = ..., json: _Optional[str] = ...) -> None: ...

class StreamProjectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ProjectionPosition(_message.Message):
    __slots__ = ("name", "tree_size", "notification_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    tree_size: int
    notification_id: int
    def __init__(self, name: _Optional[str] = ..., tree_size: _Optional[int] = ..., notification_id: _Optional[int] = ...) -> None: ...

class QueueProjectionRow(_message.Message):
    __slots__ = ("transaction_id", "reference", "service_code", "agency", "citizen_id", "status", "submitted_at", "decided_at")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    AGENCY_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    reference: str
    service_code: str
    agency: str
    citizen_id: str
    status: str
    submitted_at: str
    decided_at: str
    def __init__(self, transaction_id: _Optional[str] = ..., reference: _Optional[str] = ..., service_code: _Optional[str] = ..., agency: _Optional[str] = ..., citizen_id: _Optional[str] = ..., status: _Optional[str] = ..., submitted_at: _Optional[str] = ..., decided_at: _Optional[str] = ...) -> None: ...

class TimelineProjectionRow(_message.Message):
    __slots__ = ("citizen_id", "leaf_index", "notification_id", "at", "kind", "type", "stream", "version", "summary_json")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    leaf_index: int
    notification_id: int
    at: str
    kind: str
    type: str
    stream: str
    version: int
    summary_json: str
    def __init__(self, citizen_id: _Optional[str] = ..., leaf_index: _Optional[int] = ..., notification_id: _Optional[int] = ..., at: _Optional[str] = ..., kind: _Optional[str] = ..., type: _Optional[str] = ..., stream: _Optional[str] = ..., version: _Optional[int] = ..., summary_json: _Optional[str] = ...) -> None: ...

class StatisticsProjectionRow(_message.Message):
    __slots__ = ("kind", "day", "method", "outcome", "count", "transaction_id", "service_code", "submitted_at", "decided_at")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    day: str
    method: str
    outcome: str
    count: int
    transaction_id: str
    service_code: str
    submitted_at: str
    decided_at: str
    def __init__(self, kind: _Optional[str] = ..., day: _Optional[str] = ..., method: _Optional[str] = ..., outcome: _Optional[str] = ..., count: _Optional[int] = ..., transaction_id: _Optional[str] = ..., service_code: _Optional[str] = ..., submitted_at: _Optional[str] = ..., decided_at: _Optional[str] = ...) -> None: ...

class ProjectionRows(_message.Message):
    __slots__ = ("position", "queue", "timeline", "statistics")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    STATISTICS_FIELD_NUMBER: _ClassVar[int]
    position: ProjectionPosition
    queue: _containers.RepeatedCompositeFieldContainer[QueueProjectionRow]
    timeline: _containers.RepeatedCompositeFieldContainer[TimelineProjectionRow]
    statistics: _containers.RepeatedCompositeFieldContainer[StatisticsProjectionRow]
    def __init__(self, position: _Optional[_Union[ProjectionPosition, _Mapping]] = ..., queue: _Optional[_Iterable[_Union[QueueProjectionRow, _Mapping]]] = ..., timeline: _Optional[_Iterable[_Union[TimelineProjectionRow, _Mapping]]] = ..., statistics: _Optional[_Iterable[_Union[StatisticsProjectionRow, _Mapping]]] = ...) -> None: ...

class ProveDataKeysRequest(_message.Message):
    __slots__ = ("challenge",)
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    challenge: bytes
    def __init__(self, challenge: _Optional[bytes] = ...) -> None: ...

class DataKeyProof(_message.Message):
    __slots__ = ("citizen_id", "signature")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    signature: bytes
    def __init__(self, citizen_id: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class DataKeyProofs(_message.Message):
    __slots__ = ("tree_size", "proofs")
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PROOFS_FIELD_NUMBER: _ClassVar[int]
    tree_size: int
    proofs: _containers.RepeatedCompositeFieldContainer[DataKeyProof]
    def __init__(self, tree_size: _Optional[int] = ..., proofs: _Optional[_Iterable[_Union[DataKeyProof, _Mapping]]] = ...) -> None: ...
