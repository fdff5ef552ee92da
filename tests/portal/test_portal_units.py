"""The portal without a browser: every string translated, languages chosen as the citizen asks,
and what the portal does with what the citizen types — relays it and keeps nothing: no log line,
no file, no echo, a form without the session's CSRF token refused, the cookie locked down."""

from __future__ import annotations

import ast
import html
import http.client
import re
import string
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.i18n import LANGUAGES, TEXTS, choose_language, format_datetime, format_number
from portal.timeline import KIND_FILTERS
from portal.web import safe_path
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import identity_pb2_grpc
from tests.portal.portal_world import PASSWORD, PortalWorld, portal_world

PORTAL = Path(__file__).resolve().parents[2] / "portal"


def test_every_string_is_translated_with_the_same_placeholders() -> None:
    for key, texts in TEXTS.items():
        assert len(texts) == len(LANGUAGES), key
        assert all(text.strip() for text in texts), key
        names = [
            {name for _, name, _, _ in string.Formatter().parse(text) if name} for text in texts
        ]
        assert names[0] == names[1] == names[2], key


def test_every_key_the_pages_use_exists() -> None:
    used: set[str] = set()
    for template in (PORTAL / "templates").glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+)["']\s*[,)]""", template.read_text()))
    for module in PORTAL.glob("*.py"):
        used |= set(re.findall(r"""translate\(\s*\w+,\s*["']([a-z_]+)["']""", module.read_text()))
    used |= {f"kind_{name}" for name in KIND_FILTERS}  # the filter's labels, by name
    assert len(used) > 60
    assert used <= set(TEXTS), used - set(TEXTS)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("", "en"),
        ("et-EE,et;q=0.9,en;q=0.5", "et"),
        ("de-DE, fr;q=0.8, en;q=0.7", "fr"),
        ("en;q=0.1, fr;q=0.9", "fr"),
        ("fr;q=0", "en"),
        ("*", "en"),
    ],
)
def test_the_language_is_the_first_one_the_citizen_accepts_that_the_portal_speaks(
    header: str, language: str
) -> None:
    assert choose_language(header) == language


def test_dates_and_numbers_are_written_as_each_language_writes_them() -> None:
    moment = datetime(2026, 12, 7, 14, 46, 53, tzinfo=UTC)
    assert format_datetime(moment, "en") == "7 December 2026, 14:46:53 UTC"
    assert format_datetime(moment, "et") == "7. detsember 2026, 14:46:53 UTC"
    assert format_datetime(moment, "fr") == "7 décembre 2026 à 14:46:53 UTC"
    assert format_number(1234567, "en") == "1,234,567"
    assert format_number(1234567, "fr") == "1\u00a0234\u00a0567"


def test_the_portal_code_writes_no_file_and_keeps_no_database() -> None:
    """Sessions live in memory only: no open() for writing, no database or pickle module."""
    forbidden_modules = {"sqlite3", "shelve", "pickle", "dbm", "tempfile"}
    for module in PORTAL.rglob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                assert not forbidden_modules & {n.split(".")[0] for n in names}, module
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                assert called not in {"write_text", "write_bytes", "open", "mkdir"}, (
                    f"{module.name}: {called}"
                )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalWorld]:
    # Renewing at every request: each citizen page refreshes their Civitas token.
    renew_always = ("--renew-token-after", "0")
    with portal_world(tmp_path_factory.mktemp("portal-units"), None, *renew_always) as running:
        yield running


class Visitor:
    """A browser's part, by hand: one cookie, the CSRF token from the last page."""

    def __init__(self, world: PortalWorld) -> None:
        self.port = int(world.origin.rsplit(":", 1)[1])
        self.cookie = ""
        self.csrf = ""

    def request(
        self, method: str, path: str, body: str = "", accept: str = "text/html"
    ) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": accept}
        if self.cookie:
            headers["Cookie"] = self.cookie
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
        found = {name.lower(): value for name, value in response.getheaders()}
        if "set-cookie" in found:
            self.cookie = found["set-cookie"].split(";")[0]
        token = re.search(r'name="csrf" value="([^"]+)"', text)
        self.csrf = token.group(1) if token else self.csrf
        connection.close()
        return response.status, found, text


def test_a_password_is_relayed_and_then_nowhere_no_log_no_file_no_echo(
    world: PortalWorld,
) -> None:
    citizen_id, code = world.new_citizen("Quiet")
    visitor = Visitor(world)
    status, headers, _ = visitor.request("GET", "/activate")
    assert status == 200
    cookie = headers["set-cookie"]
    assert {"HttpOnly", "Secure", "SameSite=strict", "Path=/"} <= {
        part.strip() for part in cookie.split(";")
    }
    assert cookie.startswith("__Host-portal=")
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp

    form = f"citizen_id={citizen_id}&activation_code={code}&password={PASSWORD.replace(' ', '+')}"
    # Without the session's CSRF token: refused, and nothing changes.
    status, _, _ = visitor.request("POST", "/activate", form + "&csrf=forged")
    assert status == 403
    status, _, _ = visitor.request("POST", "/activate", f"{form}&csrf={visitor.csrf}")
    assert status == 303
    before = visitor.cookie
    visitor.request("GET", "/sign-in")
    wrong = f"csrf={visitor.csrf}&citizen_id={citizen_id}&password=not+my+password+at+all"
    status, _, page = visitor.request("POST", "/sign-in/password", wrong)
    assert status == 400
    assert "not my password at all" not in page  # never echoed into the page
    good = f"csrf={visitor.csrf}&citizen_id={citizen_id}&password={PASSWORD.replace(' ', '+')}"
    status, headers, _ = visitor.request("POST", "/sign-in/password", good)
    assert (status, headers["location"]) == (303, "/history")
    assert visitor.cookie != before  # a new session id at sign-in (no fixation)

    log = world.log()
    for secret in (PASSWORD, "not my password at all", code, citizen_id):
        assert secret not in log
    assert list(world.portal_home.iterdir()) == []  # the portal's folder and HOME: nothing


def test_the_civitas_session_is_renewed_while_the_citizen_uses_the_portal_one_at_a_time(
    world: PortalWorld,
) -> None:
    """Parallel pages renew the token one after another: a second refresh with a token the
    first replaced would end the whole session (TOKEN_ROTATED), and sign the citizen out."""
    visitor, _ = signed_in_visitor(world, "Busy")

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: visitor.request("GET", "/account")[0], range(12)))
    assert statuses == [200] * 12  # never sent to sign in
    deadline = time.monotonic() + 10
    while True:
        status, _, page = visitor.request("GET", "/history?kind=session")
        assert status == 200
        if page.count("Session renewed") >= 12:
            break
        assert time.monotonic() < deadline, page.count("Session renewed")
        time.sleep(0.2)
    assert "Session ended" not in visitor.request("GET", "/history")[2]


@given(st.text(max_size=200))
def test_any_accept_language_header_gives_a_language_the_portal_speaks(header: str) -> None:
    assert choose_language(header) in LANGUAGES


@given(st.text(max_size=100) | st.text(alphabet="/\\\t\n\r :.@evil", max_size=12))
def test_a_redirect_never_leaves_the_portal(target: str) -> None:
    """`back=` and the next page after sign-in: a path here, never another site."""
    path = safe_path(target)
    assert path.startswith("/")
    assert not path.startswith("//")
    assert "\\" not in path
    as_a_browser_reads_it = re.sub(r"[\t\n\r]", "", path).replace("\\", "/")
    assert urlsplit(as_a_browser_reads_it).netloc == ""
    assert urlsplit(as_a_browser_reads_it).scheme == ""


def signed_in_visitor(world: PortalWorld, name: str) -> tuple[Visitor, str]:
    citizen_id, code = world.new_citizen(name)
    visitor = Visitor(world)
    visitor.request("GET", "/activate")
    password = PASSWORD.replace(" ", "+")
    form = f"csrf={visitor.csrf}&citizen_id={citizen_id}&activation_code={code}"
    assert visitor.request("POST", "/activate", f"{form}&password={password}")[0] == 303
    visitor.request("GET", "/sign-in")
    form = f"csrf={visitor.csrf}&citizen_id={citizen_id}&password={password}"
    assert visitor.request("POST", "/sign-in/password", form)[0] == 303
    return visitor, citizen_id


def test_the_history_pages_and_filters_by_kind_and_period(world: PortalWorld) -> None:
    visitor, citizen_id = signed_in_visitor(world, "Paged")
    identity = identity_pb2_grpc.IdentityServiceStub(world.channel)
    for number in range(30):
        identity.GetCitizen(
            ipb.GetCitizenRequest(citizen_id=citizen_id, purpose=f"audit sample {number}"),
            metadata=[("authorization", f"Bearer {world.agency_key}")],
        )
    deadline = time.monotonic() + 15
    while True:  # the history follows the ledger moments later: until all 30 are in it
        first = visitor.request("GET", "/history?kind=data_access")[2]
        next_page = re.search(r'href="([^"]+)" rel="next"', first)
        second = visitor.request("GET", html.unescape(next_page.group(1)))[2] if next_page else ""
        shown = re.findall(r"audit sample (\d+)", first + second)
        if len(shown) >= 30:
            break
        assert time.monotonic() < deadline, f"{len(shown)} of 30 data accesses after 15 s"
        time.sleep(0.2)
    assert first.count('<tr id="item-') == 25
    assert "First page" in second
    assert sorted(map(int, shown)) == list(range(30))  # each once, none lost between pages
    assert visitor.request("GET", "/history?kind=sign_in")[2].count('<tr id="item-') >= 1
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    later = visitor.request("GET", f"/history?kind=data_access&since={tomorrow}")[2]
    assert '<tr id="item-' not in later
    today = datetime.now(UTC).date().isoformat()
    until_today = visitor.request("GET", f"/history?kind=data_access&until={today}")[2]
    assert '<tr id="item-' not in until_today  # until is exclusive: nothing before today


def test_after_sign_in_the_citizen_lands_on_the_page_they_asked_for_never_the_live_stream(
    world: PortalWorld,
) -> None:
    citizen_id, code = world.new_citizen("Returning")
    visitor = Visitor(world)
    visitor.request("GET", "/activate")
    password = PASSWORD.replace(" ", "+")
    form = f"csrf={visitor.csrf}&citizen_id={citizen_id}&activation_code={code}"
    assert visitor.request("POST", "/activate", f"{form}&password={password}")[0] == 303
    assert visitor.request("GET", "/account")[0] == 303  # a page: remembered
    # An open history page's stream reconnecting after the session ended: not remembered.
    status, _, _ = visitor.request("GET", "/history/live", accept="text/event-stream")
    assert status == 303
    visitor.request("GET", "/sign-in")
    form = f"csrf={visitor.csrf}&citizen_id={citizen_id}&password={password}"
    status, headers, _ = visitor.request("POST", "/sign-in/password", form)
    assert (status, headers["location"]) == (303, "/account")
