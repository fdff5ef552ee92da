"""No answer grows with what is stored (issue 14): a history page and a projection stream's
message stay under a fixed size even when rows were recorded before requests were bounded.

The oversize rows are written straight into the timeline table, as a ledger from before the
limits (or an insider) would have them; the citizen then reads them over gRPC, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from civitas.api.projection_rows import MESSAGE_BUDGET_BYTES, ProjectionRowStream
from civitas.client import CivitasClient, activation, bearer
from civitas.node import Node
from civitas.server import build_server
from projections.audit_projection import AuditedProjections, AuditedTimelineRow
from projections.history import PAGE_BUDGET_BYTES, within_budget
from projections.timeline_view import MAX_SUMMARY_CHARACTERS, WITHHELD, TimelineItem
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import history_pb2_grpc
from tests.conftest import ready_node

PASSWORD = "a long and unusual passphrase"
FIRST_LEGACY_POSITION = 10**12  # after anything the test's own ledger records


@dataclass
class Citizen:
    node: Node
    citizen_id: str
    history: Any  # the generated stub, untyped
    credentials: list[tuple[str, str]]

    def store_legacy_rows(self, sizes: list[int]) -> None:
        """Timeline rows whose summaries are `sizes` characters long, written to the table."""
        view = self.node.timeline_view
        rows = [
            (
                self.citizen_id,
                FIRST_LEGACY_POSITION + offset,
                view.dialect.param(datetime.now(UTC)),
                "sign_in",
                "identity.Citizen.AuthenticationSucceeded",
                self.citizen_id,
                offset + 1,
                json.dumps({"user_agent": "u" * (size - 18)}),  # 18: the JSON around it
            )
            for offset, size in enumerate(sizes)
        ]
        with view.datastore.transaction(commit=True) as c:
            c.executemany(view.sql("INSERT INTO {timeline} VALUES (?, ?, ?, ?, ?, ?, ?, ?)"), rows)

    def pages(self, page_size: int) -> Iterator[hpb.ListMyHistoryResponse]:
        token = ""
        while True:
            request = hpb.ListMyHistoryRequest(page_size=page_size, page_token=token)
            page = self.history.ListMyHistory(request, metadata=self.credentials, timeout=30)
            yield page
            token = page.next_page_token
            if not token:
                return


@pytest.fixture
def citizen(tmp_path: Path, database_url: str) -> Iterator[Citizen]:
    node = ready_node(tmp_path / "data", database_url, "civitas.test/answers")
    key = node.accounts.create("portal", "agency:tax,registrar,relying-service", actor="t")
    server, _ = build_server(node)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    agency = CivitasClient(channel, key.api_key)
    registered = agency.register({"national_identifier": "ANSWERS-1"})
    citizen_id = registered.citizen_id
    agency.set_password(citizen_id, PASSWORD, proof=activation(registered.activation_code))
    token = agency.authenticate_password(citizen_id, PASSWORD).token
    try:
        yield Citizen(node, citizen_id, history_pb2_grpc.HistoryServiceStub(channel), bearer(token))
    finally:
        channel.close()
        server.stop(grace=None)
        node.close()


def test_megabyte_rows_are_listed_with_their_summary_withheld(citizen: Citizen) -> None:
    """Issue 14: a 3.8 MB user agent per sign-in; ListMyHistory(page_size=500) took 1 GiB."""
    citizen.store_legacy_rows([1_000_000] * 12 + [MAX_SUMMARY_CHARACTERS + 1, 100])
    pages = list(citizen.pages(500))
    assert len(pages) == 1
    assert pages[0].ByteSize() < 64 * 1024
    legacy = [i for i in pages[0].items if i.position >= FIRST_LEGACY_POSITION]
    assert [json.loads(i.summary_json) for i in legacy] == [WITHHELD] * 13 + [
        {"user_agent": "u" * 82}
    ]
    assert all(i.stream and i.version for i in legacy)  # listed all the same, receipts work


def test_a_page_ends_at_its_byte_budget_and_the_next_goes_on_from_there(
    citizen: Citizen,
) -> None:
    row = MAX_SUMMARY_CHARACTERS  # as large as a summary is ever read
    count = 2 * PAGE_BUDGET_BYTES // row + 5
    citizen.store_legacy_rows([row] * count)
    pages = list(citizen.pages(500))
    assert len(pages) == 3
    for page in pages:
        assert page.ByteSize() <= PAGE_BUDGET_BYTES + 2 * row
    positions = [i.position for page in pages for i in page.items]
    assert positions == sorted(set(positions))  # each item once, in order
    assert len([p for p in positions if p >= FIRST_LEGACY_POSITION]) == count


def test_a_watch_sends_legacy_rows_withheld(citizen: Citizen) -> None:
    citizen.store_legacy_rows([2_000_000] * 3)
    request = hpb.WatchMyHistoryRequest(after_position=FIRST_LEGACY_POSITION - 1)
    stream = citizen.history.WatchMyHistory(request, metadata=citizen.credentials, timeout=30)
    received = [next(stream) for _ in range(3)]
    stream.cancel()
    assert [json.loads(i.summary_json) for i in received] == [WITHHELD] * 3


class _Rows(AuditedProjections):
    def __init__(self, rows: list[AuditedTimelineRow]) -> None:
        self._rows = rows

    def stream(self, name: str) -> Iterator[Any]:
        yield from self._rows


def _row(summary_bytes: int) -> AuditedTimelineRow:
    return AuditedTimelineRow("c", 1, 1, "at", "sign_in", "type", "s", 1, "s" * summary_bytes)


def test_a_projection_stream_message_stays_within_its_budget_and_never_cuts_a_row() -> None:
    rows = [_row(300_000)] * 20 + [_row(3_000_000)] + [_row(100)] * 300
    messages = list(ProjectionRowStream(_Rows(rows)).stream("timeline"))
    for message in messages:
        largest_row = max(r.ByteSize() for r in message.timeline)
        assert message.ByteSize() <= MESSAGE_BUDGET_BYTES + largest_row
    sent = [r.summary_json for m in messages for r in m.timeline]
    assert sent == [r.summary_json for r in rows]


def _sized(n: int) -> int:
    return len(json.dumps({"v": "x" * n}).encode())


@given(st.lists(st.integers(0, 300), max_size=30), st.integers(1, 2000))
def test_a_page_is_the_longest_prefix_within_its_budget_and_never_empty(
    sizes: list[int], budget: int
) -> None:
    items = [
        TimelineItem("c", n, datetime.now(UTC), "sign_in", "t", "s", 1, {"v": "x" * size})
        for n, size in enumerate(sizes)
    ]
    page = within_budget(items, budget)
    assert page == items[: len(page)]
    assert bool(page) == bool(items)
    used = sum(_sized(size) for size in sizes[: len(page)])
    assert used <= budget or len(page) == 1
    if len(page) < len(items):
        assert used + _sized(sizes[len(page)]) > budget
