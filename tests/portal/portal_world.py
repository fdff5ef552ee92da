"""One Civitas server and one `civitas portal` subprocess for a test module, with the service
accounts a test needs: the portal's own (relying-service only, as a real one would hold) and
an agency's (registering citizens, reading their data, running their cases)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from civitas.client import CivitasClient
from civitas.config import operator_actor
from tests.civitas.server_process import ServerProcess, free_port
from tests.conftest import REPO_ROOT, ready_node

AGENCY = "building"
SERVICE = "permit.event"
PASSWORD = "correct horse battery staple"


@dataclass
class PortalWorld:
    origin: str  # http://localhost:PORT: a secure context, so WebAuthn and Secure cookies work
    agency: CivitasClient
    agency_key: str
    channel: grpc.Channel
    portal: subprocess.Popen[bytes]
    portal_log: Path
    portal_home: Path  # the portal's working folder and HOME: must stay empty
    checkpoint_key: str

    def new_citizen(self, name: str) -> tuple[str, str]:
        """A registered citizen's id and activation code, as the registrar's letter has them."""
        registered = self.agency.register(
            {"given_name": name, "family_name": "Tamm", "national_identifier": f"EE-{name}"}
        )
        return registered.citizen_id, registered.activation_code

    def log(self) -> str:
        return self.portal_log.read_text()


@contextmanager
def portal_world(
    root: Path, database: str | None = None, *portal_args: str
) -> Iterator[PortalWorld]:
    data_dir = root / "data"
    database = database or f"sqlite:///{root / 'civitas.sqlite'}"
    # In this process rather than three `civitas` commands: the module's set-up time is mostly
    # Python starting up, on a machine the suite shares.
    node = ready_node(data_dir, database)
    try:
        actor = operator_actor()
        portal_key = node.accounts.create("citizen-portal", "relying-service", actor=actor).api_key
        agency_role = f"agency:{AGENCY},registrar,relying-service"
        agency_key = node.accounts.create("building-office", agency_role, actor=actor).api_key
        checkpoint_key = node.keys.load_keyring().checkpoint_keys[-1]
    finally:
        node.close()
    portal_port = free_port()
    origin = f"http://localhost:{portal_port}"
    server = ServerProcess(data_dir, database, "--rp-id", "localhost", "--rp-origin", origin)
    home = root / "portal-home"
    home.mkdir()
    log_path = root / "portal.log"
    command = [
        sys.executable,
        "-m",
        "civitas.cli",
        "portal",
        "--target",
        server.target,
        "--listen",
        f"127.0.0.1:{portal_port}",
        "--checkpoint-key",
        checkpoint_key,
        *portal_args,
    ]
    environment = {
        **os.environ,
        "CIVITAS_PORTAL_API_KEY": portal_key,
        "HOME": str(home),
        "PYTHONPATH": str(REPO_ROOT),  # this checkout, whichever venv runs the tests
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    with log_path.open("w") as log_file:
        portal = subprocess.Popen(
            command, cwd=home, env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )
    channel = grpc.insecure_channel(server.target)
    try:
        _wait_for_http(f"http://127.0.0.1:{portal_port}/sign-in", portal, log_path)
        yield PortalWorld(
            origin=origin,
            agency=CivitasClient(channel, agency_key),
            agency_key=agency_key,
            channel=channel,
            portal=portal,
            portal_log=log_path,
            portal_home=home,
            checkpoint_key=checkpoint_key,
        )
    finally:
        channel.close()
        portal.terminate()
        try:
            portal.wait(timeout=10)
        except subprocess.TimeoutExpired:
            portal.kill()
        server.stop()


def _wait_for_http(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"civitas portal exited:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"civitas portal did not start:\n{log_path.read_text()}")
