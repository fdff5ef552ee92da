"""`civitas portal` refuses what it cannot use, in one line, before it makes an account or
listens anywhere (tests/civitas/test_cli_refusals.py's rule for every command)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.civitas.test_cli_refusals import refused

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--target", "nohost"), "--target must be HOST:PORT"),
        (("--listen", "127.0.0.1:0"), "--listen must be HOST:PORT"),
        (("--client-cert", "c.pem", "--client-key", "k.pem"), "need --ca-cert"),
        (("--https-cert", "c.pem"), "--https-cert and --https-key go together"),
        (("--renew-token-after", "-1"), "--renew-token-after must be 0 to 86400"),
        (("--witness-key", "w+00000000+AQ=="), "--witness-key must be a cosignature/v1"),
        ((), "no ledger in"),  # no key given and no data folder to make an account in
    ],
)
def test_the_portal_command_refuses_what_it_cannot_use(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    assert says in refused(tmp_path, "portal", *args)
