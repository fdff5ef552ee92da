"""The portal against a Civitas on PostgreSQL: the history's live updates there come through
another database's notifications and projection runner, and must still reach the open page
within 2 s. The rest of the portal does not depend on the database (tests/portal/ on SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import chromium_or_skip
from tests.civitas.private_postgres import fresh_schema
from tests.conftest import postgres_or_skip
from tests.portal.portal_world import portal_world
from tests.portal.test_portal_in_a_browser import assert_a_data_access_appears_live

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_schema(postgres_or_skip()) as url:
        yield url


def test_a_data_access_appears_live_within_two_seconds_on_postgresql(
    tmp_path: Path, database: str
) -> None:
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with portal_world(tmp_path, database) as world, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        context = browser.new_context(base_url=world.origin, locale="en-GB")
        context.set_default_timeout(10_000)
        assert_a_data_access_appears_live(world, context.new_page())
        browser.close()
