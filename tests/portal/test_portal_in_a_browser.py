"""The citizen portal in a real browser (Debian's Chromium through Playwright, never its own
download): passkey sign-in with a CDP virtual authenticator, TOTP enrolment and sign-in with a
computed code, step-up, a data access appearing live, a receipt verified in the browser and a
tampered one failing, the language switch, "this wasn't me", cases, and axe-core on every page.

One Civitas server and one portal for the module; each test has its own browser context."""

from __future__ import annotations

import csv
import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyotp
import pytest

from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import identity_pb2_grpc
from tests.browser import add_virtual_authenticator, chromium_or_skip
from tests.portal.portal_world import (
    PASSWORD,
    SERVICE,
    PortalWorld,
    portal_world,
)

if TYPE_CHECKING:  # without importing playwright where it is missing (the test skips)
    from playwright.sync_api import Browser, ConsoleMessage, Page

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# CIVITAS_PORTAL_SCREENSHOTS=docs/portal makes the tests save the pages the README shows.
SCREENSHOTS = os.environ.get("CIVITAS_PORTAL_SCREENSHOTS", "")

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalWorld]:
    chromium_or_skip()
    with portal_world(tmp_path_factory.mktemp("portal")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(world: PortalWorld) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_or_skip())
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, world: PortalWorld) -> Iterator[Page]:
    context = browser.new_context(base_url=world.origin, locale="en-GB")
    context.set_default_timeout(10_000)
    errors: list[str] = []
    opened = context.new_page()

    def refused(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            errors.append(message.text)

    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", refused)
    yield opened
    assert not errors, errors  # no script failed, nor was one refused by the CSP
    context.close()


def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def activate(page: Page, citizen_id: str, code: str) -> None:
    page.goto("/activate")
    page.fill("#citizen_id", citizen_id)
    page.fill("#activation_code", code)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/sign-in")
    assert "Your password is set" in page.inner_text(".notice")


def sign_in_with_password(page: Page, citizen_id: str, totp_code: str = "") -> None:
    page.goto("/sign-in")
    password_sign_in(page, citizen_id, totp_code)
    page.wait_for_url("**/history")


def password_sign_in(page: Page, citizen_id: str, totp_code: str = "") -> None:
    page.fill("#password-citizen_id", citizen_id)
    page.fill("#password", PASSWORD)
    page.fill("#totp_code", totp_code)
    page.click("form[action='/sign-in/password'] button")


def sign_out(page: Page) -> None:
    page.click("nav.account-nav button")
    page.wait_for_url("**/sign-in")


def signed_in_citizen(world: PortalWorld, page: Page, name: str) -> str:
    citizen_id, code = world.new_citizen(name)
    activate(page, citizen_id, code)
    sign_in_with_password(page, citizen_id)
    return citizen_id


def history_shows(page: Page, path: str, text: str) -> str:
    """The history page at `path` once it lists `text` (the history follows the ledger moments
    later); reloads as a citizen would. Returns the items' text."""
    deadline = time.monotonic() + 10
    while True:
        page.goto(path)
        items = page.inner_text("#history-items")
        if text in items:
            return items
        assert time.monotonic() < deadline, f"{text!r} not in {path} after 10 s"
        time.sleep(0.2)


def wait_for_receipt(page: Page, path: str) -> str:
    """The receipt once a signed checkpoint covers the entry (about a second after it)."""
    deadline = time.monotonic() + 15
    while True:
        reply = page.request.get(path)
        if reply.ok:
            return reply.text()
        assert reply.status == 503, reply.text()
        assert time.monotonic() < deadline, "no checkpoint covered the entry in 15 s"
        time.sleep(0.2)


def test_a_passkey_made_in_the_portal_signs_the_citizen_in_without_their_number(
    world: PortalWorld, page: Page
) -> None:
    add_virtual_authenticator(page)
    signed_in_citizen(world, page, "Passkey")
    page.goto("/account")
    page.fill("#passkey-label", "my laptop")
    page.click("#passkey-register button")
    page.wait_for_url("**/account")
    assert page.inner_text(".notice") == "Your passkey is added."
    sign_out(page)

    shot(page, "sign-in")
    page.click("#passkey-sign-in button")  # username-less: no citizen number typed
    page.wait_for_url("**/history")
    page.goto("/account")
    assert "You are signed in at level AAL2." in page.inner_text("main")
    history_shows(page, "/history?kind=security", "passkey registered")


def test_an_authenticator_app_is_enrolled_with_its_qr_code_and_then_signs_in_with_a_code(
    world: PortalWorld, page: Page
) -> None:
    citizen_id = signed_in_citizen(world, page, "Totp")
    page.goto("/account")
    shot(page, "sign-in-methods")
    page.click("form[action='/account/totp'] button")
    assert str(page.locator("img.qr").get_attribute("src")).startswith("data:image/png")
    secret = page.inner_text("#totp-secret").replace(" ", "")
    app = pyotp.TOTP(secret)
    shot(page, "authenticator-app")
    page.fill("#code", app.now())
    page.click("form[action='/account/totp/confirm'] button")
    page.wait_for_url("**/account")
    assert page.inner_text(".notice") == "Your authenticator app is set up."

    # This session is still AAL1 (a password); new recovery codes now need AAL2: step up.
    page.click("form[action='/account/recovery-codes'] button")
    page.wait_for_url("**/sign-in")
    assert "second factor" in page.inner_text(".notice")
    # The next step's code (the one the enrolment used is spent; RFC 6238 allows one ahead).
    password_sign_in(page, citizen_id, app.at(time.time() + 30))
    page.wait_for_url("**/account")
    assert "level AAL2" in page.inner_text("main")
    page.click("form[action='/account/recovery-codes'] button")
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) >= 8
    shot(page, "recovery-codes")
    page.goto("/account")
    assert not page.locator("#recovery-codes").count()  # shown once
    sign_out(page)
    page.fill("#recovery_code-citizen_id", citizen_id)
    page.fill("#recovery_code", codes[0])
    page.click("form[action='/sign-in/recovery-code'] button")
    page.wait_for_url("**/history")


def test_a_data_access_by_an_agency_appears_live_within_two_seconds(
    world: PortalWorld, page: Page
) -> None:
    assert_a_data_access_appears_live(world, page)
    shot(page, "history")


def assert_a_data_access_appears_live(world: PortalWorld, page: Page) -> None:
    """An agency reads the citizen's data while their history is open: the row appears
    without a reload within 2 s of the read (server-sent events fed by WatchMyHistory)."""
    citizen_id = signed_in_citizen(world, page, "Live")
    page.wait_for_selector("#history-items tr")  # the sign-in itself
    identity = identity_pb2_grpc.IdentityServiceStub(world.channel)
    started = time.monotonic()
    identity.GetCitizen(
        ipb.GetCitizenRequest(citizen_id=citizen_id, purpose="checking the live history"),
        metadata=[("authorization", f"Bearer {world.agency_key}")],
    )
    row = page.locator("#history-items tr", has_text="checking the live history")
    row.wait_for(timeout=2000)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, elapsed
    assert "building-office" in row.inner_text() or "building" in row.inner_text()


def test_a_receipt_verifies_in_the_browser_and_a_tampered_one_fails(
    world: PortalWorld, page: Page, tmp_path: Path
) -> None:
    signed_in_citizen(world, page, "Verify")
    link = page.locator("#history-items a", has_text="Verify").first
    href = str(link.get_attribute("href"))
    receipt = wait_for_receipt(page, href.replace("/verify/", "/receipts/"))
    page.goto(href)
    page.click("#verify-button")
    page.wait_for_selector("#verdict[data-outcome]")
    checks = page.inner_text("#checks")
    assert page.get_attribute("#verdict", "data-outcome") == "verified", checks
    assert "signed by the ledger's key" in checks
    assert "the one the operator publishes" in checks
    shot(page, "verify")

    tampered = json.loads(receipt)
    tampered["entry"] = tampered["entry"].replace('"v":1', '"v":2')
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(tampered))
    page.set_input_files("#receipt-file", str(forged))
    page.wait_for_selector("#verdict[data-outcome=failed]")
    assert "signature does not verify" in page.inner_text("#checks")

    # The whole history as a file: the CSV, and the receipts a checkpoint covers already.
    download = page.request.get("/history/download")
    with zipfile.ZipFile(io.BytesIO(download.body())) as archive:
        names = archive.namelist()
        table = list(csv.reader(io.StringIO(archive.read("history.csv").decode())))
    assert table[0][:3] == ["position", "at", "kind"]
    assert len(table) > 3
    assert any(name.startswith("receipts/") for name in names)
    # Printed, the history is the table alone: no navigation, forms or buttons.
    page.goto("/history")
    page.emulate_media(media="print")
    assert not page.is_visible("nav.account-nav")
    assert not page.is_visible("form.filters")
    assert page.is_visible("table.history")


def test_the_language_follows_the_browser_and_the_switch(
    world: PortalWorld, browser: Browser
) -> None:
    context = browser.new_context(base_url=world.origin, locale="fr-FR")
    page = context.new_page()
    page.goto("/sign-in")
    assert page.get_attribute("html", "lang") == "fr"
    assert page.inner_text("h1") == "Se connecter"
    page.click("nav.languages a[lang=et]")
    page.wait_for_url("**/sign-in")
    assert page.get_attribute("html", "lang") == "et"
    assert page.inner_text("h1") == "Logi sisse"
    context.close()


def test_this_wasnt_me_ends_every_session_and_is_recorded(
    world: PortalWorld, page: Page, browser: Browser
) -> None:
    citizen_id = signed_in_citizen(world, page, "NotMe")
    elsewhere = browser.new_context(base_url=world.origin)
    other = elsewhere.new_page()
    sign_in_with_password(other, citizen_id)
    history_shows(page, "/history?kind=security", "This wasn't me")
    page.locator("#history-items button", has_text="This wasn't me").first.click()
    page.wait_for_selector("h1:has-text('signed you out everywhere')")
    other.goto("/history")
    assert other.url.endswith("/sign-in")  # the other browser's session ended too
    elsewhere.close()
    sign_in_with_password(page, citizen_id)
    history_shows(page, "/history?kind=security", "citizen reported: this wasn't me")
    ended = page.locator("#history-items tr", has_text="citizen reported: this wasn't me").first
    assert "Session ended" in ended.inner_text()  # the report is in the ledger, as the reason


def test_every_page_has_no_accessibility_violations(world: PortalWorld, page: Page) -> None:
    def check(name: str) -> None:
        page.evaluate(AXE.read_text())
        result: dict[str, Any] = page.evaluate(
            """async () => await axe.run(document, {runOnly: {type: 'tag', values:
                ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})"""
        )
        assert len(result["passes"]) > 10, name  # axe ran, and found what it checks
        problems = [
            (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
        ]
        assert not problems, f"{name}: {problems}"

    page.goto("/sign-in")
    check("sign-in")
    page.click("form[action='/sign-in/password'] button")  # empty: the error summary
    check("sign-in with errors")
    page.goto("/activate")
    check("activate")
    page.goto("/no-such-page")
    check("not found")
    citizen_id = signed_in_citizen(world, page, "Axe")
    check("history")
    case = world.agency.submit_transaction(
        SERVICE, citizen_id, f"axe-{citizen_id}", note="stage 2 of the fair"
    )
    world.agency.start_review(case.transaction_id, "checking the site plan")
    world.agency.request_information(case.transaction_id, "which gate opens first?")
    page.goto(f"/cases/{case.transaction_id}")
    assert page.text_content("#case-status") == "Information requested"
    check("case")
    shot(page, "case")
    page.fill("#information", "the north gate")
    page.click("form[action$='/information'] button")
    page.wait_for_url(f"**/cases/{case.transaction_id}")
    assert page.text_content("#case-status") == "In review"
    page.fill("#withdraw", "we moved the fair to next year")
    page.click("form[action$='/withdraw'] button")
    page.wait_for_url(f"**/cases/{case.transaction_id}")
    assert page.text_content("#case-status") == "Withdrawn"
    assert not page.locator("#withdraw").count()  # nothing left to withdraw
    page.goto("/account")
    check("account")
    page.click("form[action='/account/totp'] button")
    check("authenticator app")
    page.goto("/account")
    page.click("form[action='/account/recovery-codes'] button")
    check("recovery codes")
    page.goto("/history")
    href = str(page.locator("#history-items a", has_text="Verify").first.get_attribute("href"))
    wait_for_receipt(page, href.replace("/verify/", "/receipts/"))
    page.goto(href)
    page.click("#verify-button")
    page.wait_for_selector("#verdict[data-outcome=verified]")
    check("verify")
    history_shows(page, "/history?kind=security", "This wasn't me")
    page.locator("#history-items button", has_text="This wasn't me").first.click()
    page.wait_for_selector("h1")
    check("this wasn't me")


MARK_FOCUSABLE = """() => {
  const all = [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea')]
    .filter((e) => !e.closest('[hidden]') && e.getClientRects().length);
  all.forEach((e, i) => { e.dataset.kb = String(i); });
  return all.length;
}"""
FOCUSED = """() => {
  const e = document.activeElement;
  const style = getComputedStyle(e);
  return [e.dataset.kb ?? null, style.outlineStyle !== 'none' || style.boxShadow !== 'none',
    e.outerHTML.slice(0, 90) + ' ' + style.outlineStyle + ' ' + e.matches(':focus')];
}"""


def tab_through(page: Page, name: str) -> None:
    """Tab reaches every link, button and field of the page, each with a visible focus."""
    count = page.evaluate(MARK_FOCUSABLE)
    reached: set[str] = set()
    for _ in range(count * 4 + 5):  # a date field takes a stop per part
        page.keyboard.press("Tab")
        mark, visible, what = page.evaluate(FOCUSED)
        if mark is not None:
            assert visible, f"{name}: no visible focus on {what}"
            reached.add(mark)
        if len(reached) == count:
            return
    missing = sorted(set(map(str, range(count))) - reached, key=int)
    raise AssertionError(f"{name}: Tab never reached elements {missing} of {count}")


def tab_to(page: Page, selector: str) -> None:
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_a_citizen_signs_in_and_verifies_with_the_keyboard_alone(
    world: PortalWorld, page: Page
) -> None:
    citizen_id, code = world.new_citizen("Keyboard")
    activate(page, citizen_id, code)
    page.goto("/sign-in")
    tab_through(page, "sign-in")
    page.goto("/sign-in")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    tab_to(page, "#password-citizen_id")
    page.keyboard.type(citizen_id)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/history")
    tab_through(page, "history")
    page.goto("/account")
    tab_through(page, "account")
    page.goto("/history")
    href = str(page.locator("#history-items a", has_text="Verify").first.get_attribute("href"))
    wait_for_receipt(page, href.replace("/verify/", "/receipts/"))
    page.goto(href)
    tab_through(page, "verify")
    page.goto(href)
    tab_to(page, "#verify-button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#verdict[data-outcome=verified]")


def test_without_javascript_a_citizen_still_signs_in_and_reads_their_history(
    world: PortalWorld, browser: Browser
) -> None:
    context = browser.new_context(base_url=world.origin, java_script_enabled=False)
    page = context.new_page()
    citizen_id, code = world.new_citizen("NoScript")
    activate(page, citizen_id, code)
    page.goto("/sign-in")
    assert not page.is_visible("#passkey-sign-in")  # WebAuthn needs a script: said instead
    assert page.is_visible("#passkey-no-js")
    sign_in_with_password(page, citizen_id)
    # No live updates without a script: the citizen reloads, as this does.
    history_shows(page, "/history?kind=sign_in", "Signed in (password")
    context.close()
