"""A statement is written once and reads right on each database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID

from ledger.sql_dialect import POSTGRESQL, SQLITE, quote

TEMPLATE = "INSERT INTO {timeline} (at) VALUES (?) -- {moment}, 100%"


def test_sqlite_keeps_placeholders_and_plain_names() -> None:
    assert SQLITE.sql(TEMPLATE) == "INSERT INTO timeline (at) VALUES (?) -- TEXT, 100%"


def test_postgresql_qualifies_names_and_escapes_percent_signs() -> None:
    statement = POSTGRESQL.in_schema("tenant 1").sql(TEMPLATE)
    assert statement == 'INSERT INTO "tenant 1"."timeline" (at) VALUES (%s) -- timestamptz, 100%%'


def test_each_schema_makes_its_own_statements() -> None:
    assert POSTGRESQL.in_schema("a").sql("{t}") == '"a"."t"'
    assert POSTGRESQL.in_schema("b").sql("{t}") == '"b"."t"'


def test_identifiers_are_quoted_as_sql_reads_them() -> None:
    assert quote('we"ird') == '"we""ird"'


def test_sqlite_stores_times_as_utc_text_that_sorts_as_the_instants() -> None:
    earlier_at_plus_two = datetime(2026, 3, 1, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    later_utc = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert SQLITE.param(earlier_at_plus_two) == "2026-03-01T09:00:00+00:00"
    assert SQLITE.param(earlier_at_plus_two) < SQLITE.param(later_utc)
    assert SQLITE.param(date(2026, 3, 1)) == "2026-03-01"
    assert SQLITE.param(UUID(int=1)) == "0" * 31 + "1"
    assert POSTGRESQL.param(later_utc) is later_utc
