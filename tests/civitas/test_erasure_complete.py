"""After EraseCitizen nothing personal of the citizen is recoverable (issue 13, done when).

A realistic run over gRPC against a server subprocess: registration with personal data and
proofing evidence, sign-ins (one failed) and a refresh from a known address and browser, a
session revoked with a reason naming the person, a case whose note and reasons name them,
agency reads whose purposes name them. Then the
citizen is erased, and every place the data could remain is searched for each of their values:
every table, the SQLite database and WAL files as they are on disk while the server runs, and
an export bundle (raw and with its payloads decoded). The key-encryption key is in the
attacker's hand: the citizen's wrapped data key, which it would open, must be gone from every
byte too.

On PostgreSQL the tables' contents are searched, and the data-key table's raw pages
(pageinspect, where the extension is available). The server's own WAL and archive are out of a
client's reach (docs/erasure.md).
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import grpc
import psycopg
import pytest
from psycopg import sql

from civitas.client import bearer
from identity.personal_data import NationalIdentifierIndex
from ledger.secret_file import SecretFile
from protos.civitas.v1 import audit_pb2, audit_pb2_grpc, identity_pb2_grpc, transaction_pb2_grpc
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import transaction_pb2 as pb
from tests.civitas.server_process import add_account, civitas, running_server
from tests.civitas.test_server import wait_for_checkpoint

PASSWORD = "a long and unusual passphrase"
NATIONAL_ID = "48107129876"
PERSON = {
    "given_name": "Xanthippe",
    "family_name": "Quillfeather",
    "birth_date": "1971-03-09",
    "email": "xanthippe.q@example.test",
    "phone": "+372 5550 1234",
    "national_identifier": NATIONAL_ID,
}
OTHER = {"given_name": "Bob", "family_name": "Other", "national_identifier": "39002031234"}
EVIDENCE = "passport QX7788990 seen at the counter"
ADDRESS = "203.0.113.77"
USER_AGENT = "Mozilla/5.0 (X11; ErasureTest) Firefox/999.0"
REFRESH_ADDRESS = "198.51.100.23"
NOTE = "garden shed for Xanthippe Quillfeather"
REASONS = ("assigned to Quillfeather's file", "Quillfeather must send the site plan")
PROVIDED = "site plan of Xanthippe's garden"
PURPOSES = (
    "tax audit of Xanthippe Quillfeather",
    "appeal by Quillfeather",
    "identifying Xanthippe at the counter",
)
TOTP_LABEL = "Xanthippe's old phone"
REVOKED = "Xanthippe Quillfeather reported her laptop stolen"
# A value that is not personal and stays: the search finds what is there.
KEPT = b"permit.building"


def personal_values() -> list[str]:
    return [
        *PERSON.values(),
        EVIDENCE,
        ADDRESS,
        USER_AGENT,
        REFRESH_ADDRESS,
        NOTE,
        *REASONS,
        PROVIDED,
        *PURPOSES,
        TOTP_LABEL,
        REVOKED,
        "Xanthippe",
        "Quillfeather",
    ]


def forms(value: str) -> set[bytes]:
    """How a value could be written down in a file: as it is, JSON-escaped, as UTF-16."""
    return {
        value.encode(),
        json.dumps(value)[1:-1].encode(),
        value.encode("utf-16-le"),
    }


def test_nothing_personal_remains_after_erasure(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    civitas(data_dir, database_url, "init", "--origin", "civitas.test/erasure")
    building = bearer(add_account(data_dir, database_url, "building-office", "agency:building"))
    admin = bearer(add_account(data_dir, database_url, "operator", "admin"))
    auditor = add_account(data_dir, database_url, "auditor-1", "auditor")
    with running_server(data_dir, database_url) as (port, _):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        identity = identity_pb2_grpc.IdentityServiceStub(channel)
        cases = transaction_pb2_grpc.TransactionServiceStub(channel)
        audit = audit_pb2_grpc.AuditServiceStub(channel)
        citizen = _realistic_run(identity, cases, building)
        other = _register(identity, building, OTHER, evidence="ID card seen")  # stays

        _settled(audit, auditor)
        wrapped = _wrapped_key(database_url, citizen)
        assert wrapped in _everywhere(data_dir, database_url)  # found where it is

        erased = identity.EraseCitizen(
            ipb.EraseCitizenRequest(citizen_id=citizen, reason="GDPR art. 17 request"),
            metadata=admin,
        )
        assert erased.erased
        _wait_for_scrub(database_url, citizen)
        size = _settled(audit, auditor)
        export = tmp_path / "export"
        civitas(data_dir, database_url, "export", "--out", str(export))

        # The identifier no longer finds anyone, and the person may register again.
        with pytest.raises(grpc.RpcError) as missed:
            identity.FindCitizen(
                ipb.FindCitizenRequest(national_identifier=NATIONAL_ID, purpose="check"),
                metadata=building,
            )
        assert missed.value.code() == grpc.StatusCode.NOT_FOUND

        searched = _everywhere(data_dir, database_url) + _bundle(export)
        assert KEPT in searched  # the search does find what is there
        assert _wrapped_key(database_url, other) in searched
        lookup_hash = NationalIdentifierIndex(
            SecretFile(data_dir / "keys" / "national-identifier-lookup.key")
        ).lookup_hash(NATIONAL_ID)
        found = [
            value
            for value in (*personal_values(), lookup_hash)
            if any(form in searched for form in forms(value))
        ]
        assert found == []
        # With the key-encryption key in hand: the wrapped key that would open the sealed
        # fields is in no byte, nor its nonce (a remnant of a page).
        assert wrapped not in searched
        assert wrapped[:12] not in searched
        assert size > 0

        again = _register(identity, building, PERSON)
        assert again != citizen
        channel.close()


# --- the run ------------------------------------------------------------------------------------


def _register(
    identity: identity_pb2_grpc.IdentityServiceStub,
    md: list[tuple[str, str]],
    person: dict[str, str],
    evidence: str = EVIDENCE,
) -> str:
    data = ipb.PersonalData(**person)
    citizen = str(
        identity.RegisterCitizen(
            ipb.RegisterCitizenRequest(personal_data=data, assurance=ipb.IAL2, evidence=evidence),
            metadata=md,
        ).citizen_id
    )
    identity.SetPassword(ipb.SetPasswordRequest(citizen_id=citizen, password=PASSWORD), metadata=md)
    return citizen


def _sign_in(
    identity: identity_pb2_grpc.IdentityServiceStub,
    md: list[tuple[str, str]],
    citizen: str,
    password: str = PASSWORD,
) -> str:
    attempt = identity.BeginAuthentication(
        ipb.BeginAuthenticationRequest(citizen_id=citizen), metadata=md
    )
    client = ipb.ClientContext(address=ADDRESS, user_agent=USER_AGENT)
    request = ipb.CompleteAuthenticationRequest(
        attempt_id=attempt.attempt_id, password=password, client=client
    )
    return str(identity.CompleteAuthentication(request, metadata=md).token)


def _realistic_run(
    identity: identity_pb2_grpc.IdentityServiceStub,
    cases: transaction_pb2_grpc.TransactionServiceStub,
    building: list[tuple[str, str]],
) -> str:
    citizen = _register(identity, building, PERSON)
    identity.BeginTotpEnrollment(
        ipb.BeginTotpEnrollmentRequest(citizen_id=citizen, label=TOTP_LABEL), metadata=building
    )
    with pytest.raises(grpc.RpcError):
        _sign_in(identity, building, citizen, password="not the password")
    token = _sign_in(identity, building, citizen)
    refreshed = identity.RefreshSession(
        ipb.RefreshSessionRequest(
            token=token,
            client=ipb.ClientContext(address=REFRESH_ADDRESS, user_agent=USER_AGENT),
        ),
        metadata=building,
    ).token
    citizen_md = bearer(refreshed)
    stolen = identity.CompleteAuthentication(
        ipb.CompleteAuthenticationRequest(
            attempt_id=identity.BeginAuthentication(
                ipb.BeginAuthenticationRequest(citizen_id=citizen), metadata=building
            ).attempt_id,
            password=PASSWORD,
        ),
        metadata=building,
    )
    identity.RevokeSession(
        ipb.RevokeSessionRequest(session_id=stolen.session_id, reason=REVOKED), metadata=building
    )
    case = cases.SubmitTransaction(
        pb.SubmitTransactionRequest(
            idempotency_key="erasure-1",
            service_code="permit.building",
            citizen_id=citizen,
            note=NOTE,
            amount=pb.Amount(minor_units=15_000, currency="EUR"),
        ),
        metadata=building,
    )
    case_id = case.transaction_id
    cases.StartReview(
        pb.TransitionRequest(transaction_id=case_id, reason=REASONS[0]), metadata=building
    )
    cases.RequestInformation(
        pb.TransitionRequest(transaction_id=case_id, reason=REASONS[1]), metadata=building
    )
    cases.ProvideInformation(
        pb.ProvideInformationRequest(transaction_id=case_id, note=PROVIDED), metadata=citizen_md
    )
    identity.GetCitizen(
        ipb.GetCitizenRequest(citizen_id=citizen, purpose=PURPOSES[0]), metadata=building
    )
    cases.GetTransaction(
        pb.GetTransactionRequest(transaction_id=case_id, purpose=PURPOSES[1]), metadata=building
    )
    identity.FindCitizen(
        ipb.FindCitizenRequest(national_identifier=NATIONAL_ID, purpose=PURPOSES[2]),
        metadata=building,
    )
    return citizen


def _settled(audit: audit_pb2_grpc.AuditServiceStub, key: str) -> int:
    """Wait until the log stopped growing and the timeline reflects all of it; its size."""
    deadline, last = time.monotonic() + 30, -1
    while time.monotonic() < deadline:
        size = wait_for_checkpoint(audit, key, 1).tree_size
        call = audit.StreamProjection(
            audit_pb2.StreamProjectionRequest(name="timeline"), metadata=bearer(key)
        )
        position = next(call).position.tree_size
        call.cancel()
        if position == size == last:
            return size
        last = size
        time.sleep(0.3)
    raise AssertionError("the timeline did not catch up with the log")


# --- where data could remain --------------------------------------------------------------------


def _postgres(database_url: str) -> tuple[str, str]:
    parts = urlparse(database_url)
    query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    return parts._replace(query="").geturl(), query.get("schema", "public")


def _table_rows(database_url: str) -> Iterator[bytes]:
    """Every value of every row of every table, as bytes."""
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        with closing(sqlite3.connect(path)) as connection:
            tables = [
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in tables:
                for row in connection.execute(f'SELECT * FROM "{table}"'):
                    yield from (_bytes(value) for value in row)
        return
    url, schema = _postgres(database_url)
    with psycopg.connect(url) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            )
        ]
        for table in tables:
            query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table))
            for row in connection.execute(query):
                yield from (_bytes(value) for value in row)
        yield from _raw_pages(connection, schema, "citizen_data_keys")


def _raw_pages(connection: psycopg.Connection[Any], schema: str, table: str) -> Iterator[bytes]:
    """The table's pages as stored, dead row versions included (needs pageinspect)."""
    try:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
    except psycopg.Error:
        connection.rollback()
        return
    name = f'"{schema}"."{table}"'
    pages = connection.execute(
        "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int", (name,)
    ).fetchone()
    for block in range(pages[0] if pages else 0):
        page = connection.execute("SELECT get_raw_page(%s, %s)", (name, block)).fetchone()
        if page is not None:
            yield bytes(page[0])


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    return str(value).encode()


def _files(data_dir: Path, database_url: str) -> Iterator[bytes]:
    """The data folder's files and, on SQLite, the database, its WAL and shared memory, as
    they are on disk (the server still runs: the WAL is not checkpointed on close first)."""
    paths = [p for p in data_dir.rglob("*") if p.is_file()]
    if database_url.startswith("sqlite"):
        database = Path(database_url.removeprefix("sqlite:///"))
        paths += [p for p in database.parent.glob(database.name + "*") if p.is_file()]
    for path in paths:
        yield path.read_bytes()


def _everywhere(data_dir: Path, database_url: str) -> bytes:
    return b"\n".join([*_table_rows(database_url), *_files(data_dir, database_url)])


def _bundle(export: Path) -> bytes:
    """The export bundle's files, and each payload decoded."""
    parts = [p.read_bytes() for p in export.rglob("*") if p.is_file()]
    for line in (export / "entries.jsonl").read_text().splitlines():
        payload = json.loads(line)["payload"]
        if payload is not None:
            parts.append(base64.b64decode(payload))
    return b"\n".join(parts)


def _wrapped_key(database_url: str, citizen: str) -> bytes:
    if database_url.startswith("sqlite"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as connection:
            row = connection.execute(
                "SELECT wrapped_key FROM citizen_data_keys WHERE citizen_id = ?",
                (citizen.replace("-", ""),),
            ).fetchone()
        return bytes(row[0])
    url, schema = _postgres(database_url)
    with psycopg.connect(url) as connection:
        found = connection.execute(
            sql.SQL("SELECT wrapped_key FROM {} WHERE citizen_id = %s").format(
                sql.Identifier(schema, "citizen_data_keys")
            ),
            (citizen,),
        ).fetchone()
    assert found is not None
    return bytes(found[0])


def _timeline_types(database_url: str, citizen: str) -> list[str]:
    if database_url.startswith("sqlite"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as connection:
            rows = connection.execute(
                "SELECT type FROM timeline WHERE citizen_id = ?", (citizen,)
            ).fetchall()
        return [row[0] for row in rows]
    url, schema = _postgres(database_url)
    with psycopg.connect(url) as connection:
        query = sql.SQL("SELECT type FROM {} WHERE citizen_id = %s").format(
            sql.Identifier(schema, "timeline")
        )
        return [row[0] for row in connection.execute(query, (citizen,))]


def _wait_for_scrub(database_url: str, citizen: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _timeline_types(database_url, citizen) == ["identity.Citizen.Erased"]:
            return
        time.sleep(0.1)
    raise AssertionError(f"the timeline was not scrubbed: {_timeline_types(database_url, citizen)}")


pytestmark = pytest.mark.timeout(180)
