"""A tlog-tiles client written from the C2SP specs alone: it shares nothing with the writer.

Only the standard library: its own Ed25519 verification (RFC 8032 section 5.1.7), its own
signed-note and checkpoint parsing (C2SP signed-note, tlog-checkpoint), its own RFC 6962 hashing
and proofs (RFC 9162 sections 2.1.3 and 2.1.4), reading `checkpoint`, `tile/<L>/<N>[.p/<W>]` and
`tile/entries/<N>[.p/<W>]` over HTTP (C2SP tlog-tiles). tests/civitas/test_tiles.py points it
at a running log; a test there checks that it imports nothing but the standard library.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass, field

# --- Ed25519 verification, RFC 8032 section 5.1 (extended twisted Edwards coordinates) ------------

_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493  # the group order
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int, int, int]


def _add(a: _Point, b: _Point) -> _Point:
    x = (a[1] - a[0]) * (b[1] - b[0]) % _P
    y = (a[1] + a[0]) * (b[1] + b[0]) % _P
    c = 2 * a[3] * b[3] * _D % _P
    d = 2 * a[2] * b[2] % _P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int, point: _Point) -> _Point:
    result: _Point = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _same(a: _Point, b: _Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _decode_point(data: bytes) -> _Point | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else (0, y, 1, 0)
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x & 1 != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


_BASE = _decode_point((4 * pow(5, _P - 2, _P) % _P).to_bytes(32, "little"))


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 section 5.1.7, cofactorless: [S]B = R + [k]A."""
    assert _BASE is not None
    point_a = _decode_point(public_key)
    point_r = _decode_point(signature[:32]) if len(signature) == 64 else None
    s = int.from_bytes(signature[32:], "little")
    if point_a is None or point_r is None or s >= _Q:
        return False
    digest = hashlib.sha512(signature[:32] + public_key + message).digest()
    k = int.from_bytes(digest, "little") % _Q
    return _same(_multiply(s, _BASE), _add(point_r, _multiply(k, point_a)))


# --- signed notes and checkpoints (C2SP signed-note, tlog-checkpoint) ----------------------------


class ClientError(Exception):
    """What the log served does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str


def open_checkpoint(note: str, verifier_key: str) -> Checkpoint:
    """Verify the note's signature by `verifier_key` (`name+hash+base64(0x01 || key)`) and parse
    the checkpoint it signs. Lines by other keys (a witness's cosignature) are passed over."""
    name, key_hash_hex, encoded = verifier_key.split("+", 2)
    key = base64.b64decode(encoded, validate=True)
    if len(key) != 33 or key[0] != 1:
        raise ClientError("not an Ed25519 note verifier key")
    key_hash = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    if key_hash.hex() != key_hash_hex:
        raise ClientError("verifier key hash does not match its key")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise ClientError("not a signed note")
    text, signatures = note[: cut + 1], note[cut + 2 :].splitlines()
    if not any(_signed_by(line, name, key_hash, key[1:], text.encode()) for line in signatures):
        raise ClientError(f"no valid signature by {name}")
    lines = text.splitlines()
    if len(lines) < 3 or lines[0] != name or str(int(lines[1])) != lines[1]:
        raise ClientError("not a checkpoint of this log")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise ClientError("root hash is not 32 bytes")
    return Checkpoint(lines[0], int(lines[1]), root, note)


def _signed_by(line: str, name: str, key_hash: bytes, public: bytes, text: bytes) -> bool:
    prefix = f"\u2014 {name} "
    if not line.startswith(prefix):
        return False
    blob = base64.b64decode(line[len(prefix) :], validate=True)
    return blob[:4] == key_hash and ed25519_verify(public, text, blob[4:])


# --- RFC 6962 hashing and proofs ------------------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes
) -> bool:
    """RFC 9162 section 2.1.4.2 (0 < size1 < size2)."""
    if not 0 < size1 < size2 or not proof:
        return False
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the first node
        proof = [root1, *proof]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn & 1 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == root1 and sr == root2


# --- tiles over HTTP (C2SP tlog-tiles) ------------------------------------------------------------


def tile_index_path(index: int) -> str:
    """`<N>`: 3-digit groups, all but the last with an `x` (1234067 is `x001/x234/067`)."""
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if not index:
            break
    return "/".join([*(f"x{g}" for g in reversed(groups[1:])), groups[0]])


def tile_path(level: int | str, index: int, width: int) -> str:
    return f"tile/{level}/{tile_index_path(index)}" + ("" if width == 256 else f".p/{width}")


@dataclass
class TilesClient:
    """Reads one log at `prefix` (e.g. `http://127.0.0.1:8080`); `fetched` lists every path."""

    prefix: str
    verifier_key: str
    fetched: list[str] = field(default_factory=list)

    def get(self, path: str) -> bytes:
        request = urllib.request.Request(
            f"{self.prefix.rstrip('/')}/{path}", headers={"Accept-Encoding": "gzip, identity"}
        )
        self.fetched.append(path)
        with urllib.request.urlopen(request, timeout=10) as response:
            body: bytes = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
        return body

    def checkpoint(self) -> Checkpoint:
        return open_checkpoint(self.get("checkpoint").decode(), self.verifier_key)

    def tree(self, checkpoint: Checkpoint) -> TiledTree:
        return TiledTree(self, checkpoint.size)

    def entries(self, bundle: int, checkpoint: Checkpoint) -> list[bytes]:
        """The entries of bundle `bundle`, as wide as the checkpoint makes it."""
        width = min(256, checkpoint.size - bundle * 256)
        if width <= 0:
            raise ClientError(f"bundle {bundle} is beyond the tree")
        data, entries, at = self.get(tile_path("entries", bundle, width)), [], 0
        while at < len(data):
            length = int.from_bytes(data[at : at + 2], "big")
            entries.append(data[at + 2 : at + 2 + length])
            at += 2 + length
        if at != len(data) or len(entries) != width:
            raise ClientError(f"bundle {bundle} holds {len(entries)} entries, want {width}")
        return entries


class TiledTree:
    """The tree of one checkpoint's size, read from tiles (fetched once each)."""

    def __init__(self, client: TilesClient, size: int) -> None:
        self.client, self.size = client, size
        self._tiles: dict[tuple[int, int], bytes] = {}

    def _tile(self, level: int, index: int) -> bytes:
        if (level, index) not in self._tiles:
            span = 256**level
            full = (index + 1) * 256 * span <= self.size
            width = 256 if full else (self.size // span) % 256
            data = self.client.get(tile_path(level, index, width))
            if len(data) != 32 * width:
                raise ClientError(f"tile {level}/{index} is {len(data)} bytes, want {32 * width}")
            self._tiles[(level, index)] = data
        return self._tiles[(level, index)]

    def perfect(self, height: int, index: int) -> bytes:
        """MTH of leaves [index·2^height, (index+1)·2^height), from the tile that holds it."""
        level, rest = divmod(height, 8)
        first = index << rest  # its leftmost hash at the tile level
        tile = self._tile(level, first // 256)
        position = first % 256
        hashes = [tile[32 * i : 32 * i + 32] for i in range(position, position + (1 << rest))]
        while len(hashes) > 1:
            hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def subtree(self, begin: int, end: int) -> bytes:
        """MTH(D[begin:end]) by the RFC 6962 recursion, a whole perfect subtree at a time."""
        n = end - begin
        if n & (n - 1) == 0 and begin % n == 0:
            return self.perfect(n.bit_length() - 1, begin // n)
        k = _split(n)
        return node_hash(self.subtree(begin, begin + k), self.subtree(begin + k, end))

    def root(self) -> bytes:
        return self.subtree(0, self.size) if self.size else hashlib.sha256().digest()

    def leaf(self, index: int) -> bytes:
        return self.perfect(0, index)

    def inclusion_proof(self, index: int) -> list[bytes]:
        """PATH(m, D[n]) of RFC 9162 section 2.1.3.1."""
        proof: list[bytes] = []
        begin, end = 0, self.size
        while end - begin > 1:
            k = _split(end - begin)
            if index < begin + k:
                proof.append(self.subtree(begin + k, end))
                end = begin + k
            else:
                proof.append(self.subtree(begin, begin + k))
                begin += k
        return proof[::-1]

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1."""
        return self._subproof(old_size, 0, self.size, True)

    def _subproof(self, m: int, begin: int, end: int, whole: bool) -> list[bytes]:
        n = end - begin
        if m == n:
            return [] if whole else [self.subtree(begin, end)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, begin, begin + k, whole), self.subtree(begin + k, end)]
        return [*self._subproof(m - k, begin + k, end, False), self.subtree(begin, begin + k)]


def status_of(client: TilesClient, path: str) -> int:
    """The HTTP status a GET of `path` answers with."""
    try:
        client.get(path)
    except urllib.error.HTTPError as error:
        return error.code
    return 200
