"""The log over HTTP as C2SP tlog-tiles, read by an outside client (tests/tiles_client.py) that
shares nothing with the writer, on SQLite and PostgreSQL; and the endpoint's refusals."""

from __future__ import annotations

import ast
import gzip
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from civitas.client import bearer
from civitas.config import ConfigError, build_config
from civitas.node import Node
from civitas.tiles_http import TilesEndpoint
from protos.civitas.v1 import audit_pb2, audit_pb2_grpc
from tests.civitas.server_process import served_with_account
from tests.conftest import ready_node
from tests.ledger.test_sequencer import write_accounts
from tests.tiles_client import (
    ClientError,
    TilesClient,
    leaf_hash,
    open_checkpoint,
    status_of,
    verify_consistency,
    verify_inclusion,
)

CLIENT = Path(__file__).resolve().parents[1] / "tiles_client.py"
GO_CHECK = Path(__file__).resolve().parent / "tiles_interop.go"
# Debian's golang-golang-x-mod-dev: Go's sumdb/tlog and sumdb/note, built offline in GOPATH mode.
GO_PATH = Path("/usr/share/gocode")


@pytest.fixture(scope="session")
def go_tiles_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiles_interop.go, built once per session with Go's own tlog and note packages."""
    if shutil.which("go") is None or not (GO_PATH / "src/golang.org/x/mod/sumdb/tlog").is_dir():
        message = "needs golang-go and golang-golang-x-mod-dev (apt)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: .ci/run installs them")
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("go")
    binary = folder / "tiles_interop"
    environment = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GO_PATH),
        "GOCACHE": str(folder / "cache"),
        "GOFLAGS": "",
        "GOENV": "off",  # no user config file: CI may have no $HOME
    }
    subprocess.run(
        ["go", "build", "-o", str(binary), str(GO_CHECK)],
        env=environment,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return binary


def sequence(node: Node) -> None:
    assert node.sequencer().catch_up(node.store.recorder.max_notification_id())


def unpublish(node: Node, tree_size: int) -> None:
    """Drop one checkpoint row, as when the published checkpoint lags the stored tree."""
    view = node.log_view
    with view.datastore.transaction(commit=True) as cursor:
        cursor.execute(view.sql("DELETE FROM {checkpoints} WHERE tree_size = ?"), (tree_size,))


@pytest.fixture
def endpoint(node: Node) -> Iterator[TilesEndpoint]:
    served = TilesEndpoint(node.log_tiles, "127.0.0.1", 0)
    yield served
    served.close()


def client_of(node: Node, endpoint: TilesEndpoint) -> TilesClient:
    return TilesClient(f"http://127.0.0.1:{endpoint.port}", node.signer.keyring.checkpoint_keys[-1])


def test_an_outside_client_proves_inclusion_and_consistency_from_tiles(
    node: Node, endpoint: TilesEndpoint
) -> None:
    prove_from_tiles(node, endpoint)


def tamper_leaf(node: Node, index: int) -> None:
    """Overwrite one stored leaf hash, as an insider with the database could."""
    view = node.log_view
    with view.datastore.transaction(commit=True) as cursor:
        cursor.execute(
            view.sql("UPDATE {merkle_nodes} SET hash = ? WHERE level = 0 AND idx = ?"),
            (bytes(32), index),
        )


def prove_from_tiles(node: Node, endpoint: TilesEndpoint) -> tuple[str, int]:
    """Two checkpoints (300 and 550 entries) and every proof between them, from tiles alone;
    returns the old checkpoint's note and the new tree's size."""
    write_accounts(node, 300, batch=100)
    sequence(node)
    client = client_of(node, endpoint)
    old = client.checkpoint()
    assert client.tree(old).root() == old.root

    write_accounts(node, 250, "later", batch=125)
    sequence(node)
    new = client.checkpoint()
    tree = client.tree(new)
    assert tree.root() == new.root
    # The old checkpoint's partial tiles are still served, and its tree is a prefix of the new.
    assert client.tree(old).root() == old.root
    proof = tree.consistency_proof(old.size)
    assert verify_consistency(old.size, new.size, proof, old.root, new.root)
    assert not verify_consistency(old.size, new.size, proof, new.root, new.root)
    assert proof == node.audit.consistency_proof(old.size, new.size)[1]  # GetConsistencyProof's

    published = [entry.entry for entry in node.audit.entries(0, new.size)]
    for index in (0, 255, 256, old.size - 1, new.size - 1):
        bundle = client.entries(index // 256, new)
        entry = bundle[index % 256]
        assert entry == published[index]  # the canonical entry, as StreamEntries gives it
        assert leaf_hash(entry) == tree.leaf(index)
        path = tree.inclusion_proof(index)
        assert verify_inclusion(leaf_hash(entry), index, new.size, path, new.root)
        assert not verify_inclusion(leaf_hash(entry + b" "), index, new.size, path, new.root)
        assert path == node.audit.inclusion_proof(index, new.size).hashes
    assert (old.size, new.size) == (300, 550)  # the paths below are those of these sizes
    assert {
        "tile/0/000",
        "tile/0/001.p/44",
        "tile/0/001",
        "tile/0/002.p/38",
        "tile/1/000.p/1",
        "tile/1/000.p/2",
        "tile/entries/000",
        "tile/entries/001",
        "tile/entries/002.p/38",
    } <= set(client.fetched)
    return old.note, new.size


def test_go_sumdb_tlog_reads_and_proves_the_same_tiles(
    node: Node, endpoint: TilesEndpoint, go_tiles_check: Path, tmp_path: Path
) -> None:
    """Go's golang.org/x/mod/sumdb/tlog tile reader agrees: tree hash, consistency, inclusion."""
    old_note, size = prove_from_tiles(node, endpoint)
    old_file = tmp_path / "old-checkpoint"
    old_file.write_text(old_note)
    prefix = f"http://127.0.0.1:{endpoint.port}"
    vkey = node.signer.keyring.checkpoint_keys[-1]
    indexes = ["0", "255", "256", "299", str(size - 1)]
    command = [str(go_tiles_check), prefix, vkey, str(old_file)]
    result = subprocess.run(
        [*command, *indexes], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ok size={size} old=300 entries=5"

    # Tile 0/000 no longer hashes to its parent in tile 1/000.p/2: Go's tile reader refuses it
    # when a proof needs it, and the Python client's proof through leaf 5 fails.
    tamper_leaf(node, 5)
    refused = subprocess.run(
        [*command, "4"], capture_output=True, text=True, timeout=60, check=False
    )
    assert refused.returncode == 1, refused.stdout
    assert "tiles_interop:" in refused.stderr
    client = client_of(node, endpoint)
    checkpoint = client.checkpoint()
    tree = client.tree(checkpoint)
    entry = client.entries(0, checkpoint)[4]
    path = tree.inclusion_proof(4)
    assert not verify_inclusion(leaf_hash(entry), 4, checkpoint.size, path, checkpoint.root)


def test_the_client_refuses_a_checkpoint_signed_by_another_key(tmp_path: Path) -> None:
    """The client's own Ed25519 and note code can fail: another log's key does not open it."""
    ours = ready_node(tmp_path / "ours", f"sqlite:///{tmp_path / 'ours.sqlite'}")
    theirs = ready_node(tmp_path / "theirs", f"sqlite:///{tmp_path / 'theirs.sqlite'}")
    try:
        sequence(ours)
        note = ours.audit.latest_checkpoint().note
        assert open_checkpoint(note, ours.signer.keyring.checkpoint_keys[-1]).size >= 0
        with pytest.raises(ClientError, match=r"not a checkpoint of this log|no valid signature"):
            open_checkpoint(note, theirs.signer.keyring.checkpoint_keys[-1])
        signature = note.rsplit(" ", 1)[1]
        flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
        with pytest.raises(ClientError, match="no valid signature"):
            open_checkpoint(
                note.replace(signature, flipped), ours.signer.keyring.checkpoint_keys[-1]
            )
    finally:
        ours.close()
        theirs.close()


def test_nothing_beyond_the_checkpoint_and_no_malformed_path_is_served(
    node: Node, endpoint: TilesEndpoint
) -> None:
    client = client_of(node, endpoint)
    assert status_of(client, "checkpoint") == 503  # nothing signed yet
    write_accounts(node, 20, batch=20)
    sequence(node)
    size = client.checkpoint().size
    assert status_of(client, f"tile/0/000.p/{size}") == 200
    assert status_of(client, f"tile/entries/000.p/{size}") == 200
    assert status_of(client, f"tile/0/000.p/{size - 1}") == 200  # an earlier tree's tile
    write_accounts(node, 5, "unpublished", batch=5)
    sequence(node)
    stored = node.audit.latest_checkpoint().tree_size
    unpublish(node, stored)  # its nodes and leaves stay stored, but no checkpoint covers them
    assert client.checkpoint().size == size
    for beyond in (
        f"tile/0/000.p/{size + 1}",
        f"tile/0/000.p/{stored}",
        "tile/0/000",
        "tile/0/001",
    ):
        assert status_of(client, beyond) == 404, beyond
    assert status_of(client, "tile/entries/000") == 404
    malformed = (
        "tile/0/0",  # not 3 digits
        "tile/0/x000/001",  # not the canonical path of tile 1
        "tile/0/001/002",  # an inner group without its x
        "tile/00/000",  # a leading zero
        "tile/64/000",  # level above 63
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/007",
        "tile/entries/000.p/",
        "tile/" + "x999/" * 30 + "999",  # past any tree size, refused before any read
        "tile/-1/000",
    )
    for path in malformed:
        assert status_of(client, path) == 400, path
    assert status_of(client, "robots.txt") == 404


def test_headers_follow_the_spec(node: Node, endpoint: TilesEndpoint) -> None:
    write_accounts(node, 10, batch=10)
    sequence(node)
    size = node.audit.latest_checkpoint().tree_size
    base = f"http://127.0.0.1:{endpoint.port}"
    with urllib.request.urlopen(f"{base}/checkpoint", timeout=10) as response:
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.read().decode() == node.audit.latest_checkpoint().note
    with urllib.request.urlopen(f"{base}/tile/0/000.p/{size}", timeout=10) as response:
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert "immutable" in response.headers["Cache-Control"]
        assert len(response.read()) == 32 * size
    request = urllib.request.Request(
        f"{base}/tile/entries/000.p/{size}", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(response.read())[2:3] == b"{"  # after the first length prefix
    connection = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    connection.request("POST", "/checkpoint", body=b"x")
    answer = connection.getresponse()
    assert (answer.status, answer.headers["Allow"]) == (405, "GET, HEAD")
    connection.close()
    connection = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    connection.request("HEAD", f"/tile/0/000.p/{size}")
    answer = connection.getresponse()
    assert (answer.status, answer.headers["Content-Length"], answer.read()) == (
        200,
        str(32 * size),
        b"",
    )
    connection.request("GET", "/checkpoint")  # the same connection: keep-alive
    assert connection.getresponse().read().startswith(b"civitas.test/log\n")
    connection.close()


def test_the_tiles_port_comes_from_the_flag_then_the_environment_and_is_checked(
    tmp_path: Path,
) -> None:
    folder = str(tmp_path)
    assert build_config(data_dir=folder, environ={}).tiles_port is None  # off by default
    config = build_config(data_dir=folder, host="::1", environ={"CIVITAS_TILES_PORT": "8080"})
    assert (config.tiles_port, config.tiles_host) == (8080, "::1")
    config = build_config(
        data_dir=folder, tiles_port=0, tiles_host="127.0.0.2", environ={"CIVITAS_TILES_PORT": "1"}
    )
    assert (config.tiles_port, config.tiles_host) == (0, "127.0.0.2")
    for bad in ({"CIVITAS_TILES_PORT": "http"}, {"CIVITAS_TILES_PORT": "65536"}):
        with pytest.raises(ConfigError, match="CIVITAS_TILES_PORT"):
            build_config(data_dir=folder, environ=bad)


def test_a_taken_port_and_too_many_connections_are_refused(
    node: Node, endpoint: TilesEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match=f"cannot serve tiles on 127.0.0.1:{endpoint.port}"):
        TilesEndpoint(node.log_tiles, "127.0.0.1", endpoint.port)
    write_accounts(node, 1)
    sequence(node)
    monkeypatch.setattr("civitas.tiles_http.MAX_CONNECTIONS", 2)
    small = TilesEndpoint(node.log_tiles, "127.0.0.1", 0)
    idle = [socket.create_connection(("127.0.0.1", small.port)) for _ in range(2)]
    try:
        time.sleep(0.2)  # both are accepted and hold their slots, sending nothing
        connection = http.client.HTTPConnection("127.0.0.1", small.port, timeout=10)
        connection.request("GET", "/checkpoint")
        answer = connection.getresponse()
        assert (answer.status, answer.headers["Retry-After"], answer.read()) == (503, "1", b"")
        connection.close()
    finally:
        for held in idle:
            held.close()
    time.sleep(0.2)  # the slots are free again once those clients leave
    connection = http.client.HTTPConnection("127.0.0.1", small.port, timeout=10)
    connection.request("GET", "/checkpoint")
    assert connection.getresponse().status == 200
    connection.close()
    small.close()


def test_civitas_serve_publishes_the_checkpoint_getlatestcheckpoint_returns(
    tmp_path: Path,
) -> None:
    served = served_with_account(tmp_path, "auditor-1", "auditor", "--tiles-port", "0")
    with served as (key, port, log_path):
        match = re.search(
            r"civitas tiles on http://127\.0\.0\.1:(\d+)/checkpoint", log_path.read_text()
        )
        assert match, log_path.read_text()
        stub = audit_pb2_grpc.AuditServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        grpc_note = ""
        for _ in range(100):
            try:
                grpc_note = stub.GetLatestCheckpoint(
                    audit_pb2.GetLatestCheckpointRequest(), metadata=bearer(key)
                ).note
                break
            except grpc.RpcError:  # not yet sequenced
                time.sleep(0.1)
        assert grpc_note
        url = f"http://127.0.0.1:{match.group(1)}/checkpoint"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read().decode() == grpc_note


def test_the_client_imports_nothing_but_the_standard_library() -> None:
    roots: set[str] = set()
    for found in ast.walk(ast.parse(CLIENT.read_text("utf-8"))):
        if isinstance(found, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in found.names)
        elif isinstance(found, ast.ImportFrom):
            roots.add(str(found.module).split(".")[0])
    assert roots, "no imports found: the check would pass on anything"
    assert roots <= set(sys.stdlib_module_names), roots - set(sys.stdlib_module_names)
