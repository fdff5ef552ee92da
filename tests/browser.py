"""What the browser tests share: Debian's Chromium for Playwright (never Playwright's own
download) and a CDP virtual authenticator standing in for the citizen's device."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # without importing playwright where it is missing (the test skips)
    from playwright.sync_api import Page

# Chrome's virtual authenticator: a platform authenticator with a PIN or biometrics, whose keys
# are not backup eligible (device-bound). Until issue 13 that alone made its sign-ins AAL3; its
# attestation chains to no root the operator listed, so it now earns AAL2, even on a server
# that offers AAL3.
VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


def chromium_or_skip() -> str:
    """Debian's chromium; the test skips without it or the playwright package (fails under CI)."""
    chromium = shutil.which("chromium")
    try:
        import playwright.sync_api  # noqa: F401 - only whether it is installed
    except ImportError:
        chromium = None
    if chromium is None:
        message = "Debian's chromium and the playwright package are needed for the browser test"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; .ci/run installs them, so this is a broken CI machine")
        pytest.skip(message)
    return chromium


def add_virtual_authenticator(page: Page) -> None:
    """The page's browser context gets VIRTUAL_AUTHENTICATOR, as if the citizen's device."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR})
