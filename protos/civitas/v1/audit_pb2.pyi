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
