"""`civitas demo`: one citizen's journey through a running server, each step printed plainly.

A newcomer's tour, and a smoke test of a deployment: it talks to the server only over gRPC, as a
relying service (an agency's portal), the citizen and an auditor would, through
`civitas.client`; the checks at the end are `civitas-verify`'s, run as a separate process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import TextIO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from civitas.audit_export import IncompleteStream, download_bundle
from civitas.client import (
    CivitasClient,
    ClientTls,
    activation,
    channel_for,
    citizen_token,
    describe_error,
)
from civitas.config import DEFAULT_HOST, DEFAULT_PORT, Config, ConfigError, operator_actor
from civitas.node import Node
from civitas.soft_authenticator import SoftAuthenticator
from civitas.totp_app import TotpApp
from ledger.catalogue import ServiceCatalogue, ServiceEntry
from ledger.errors import Conflict
from protos.civitas.v1 import history_pb2 as hpb
from protos.civitas.v1 import identity_pb2 as ipb
from protos.civitas.v1 import transaction_pb2 as tpb

DEFAULT_SERVICE = "permit.building"
DEMO_FEE = (15_000, "EUR")  # minor units: money is never a float
VERIFIER_TIMEOUT = 120.0
READ_PURPOSE = "demo: checking the permit register"
PROJECTION_WAIT = 15.0  # the history is a projection: it follows the log within moments
REACH_TIMEOUT = 5.0  # a server on the target answers its health service well within this


class StepFailed(Exception):
    """A step's result is not what the service promises; the message says what was seen."""


@dataclass(frozen=True)
class DemoOptions:
    target: str
    agency_key: str | None
    auditor_key: str | None
    tls: ClientTls | None
    service_code: str
    out: Path | None  # where the receipt and the bundle are kept; a temporary folder if None


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default=f"{DEFAULT_HOST}:{DEFAULT_PORT}", metavar="HOST:PORT")
    parser.add_argument(
        "--agency-key", help="API key of the agency owning --service (default: a demo account)"
    )
    parser.add_argument("--auditor-key", help="API key of an auditor (default: a demo account)")
    parser.add_argument("--service", default=DEFAULT_SERVICE, help="catalogue code to submit")
    parser.add_argument("--ca-cert", type=Path, metavar="PEM", help="TLS: trust this CA")
    parser.add_argument("--client-cert", type=Path, metavar="PEM", help="mTLS client certificate")
    parser.add_argument("--client-key", type=Path, metavar="PEM", help="mTLS client key")
    parser.add_argument(
        "--rp-origin", action="append", help="the WebAuthn origin the server accepts"
    )
    parser.add_argument("--out", type=Path, help="keep the receipt and the bundle in this folder")


def run_demo_command(config: Config, args: argparse.Namespace) -> int:
    if (args.client_cert or args.client_key) and not args.ca_cert:
        raise ConfigError("--client-cert and --client-key need --ca-cert (mTLS runs over TLS)")
    try:
        tls = ClientTls(args.ca_cert, args.client_cert, args.client_key) if args.ca_cert else None
    except ValueError as error:
        raise ConfigError(f"--client-cert and --client-key: {error}") from None
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a file, not a folder")
    options = DemoOptions(
        target=_checked_target(args.target),
        agency_key=args.agency_key,
        auditor_key=args.auditor_key,
        tls=tls,
        service_code=args.service,
        out=args.out,
    )
    return run_demo(config, options, sys.stdout)


def _checked_target(target: str) -> str:
    host, colon, port = target.rpartition(":")
    if not (host and colon and port.isdigit() and 0 < int(port) <= 65535):
        raise ConfigError(f"--target must be HOST:PORT with a port 1..65535, not {target!r}")
    return target


def run_demo(config: Config, options: DemoOptions, out: TextIO) -> int:
    """Run every step in order; 0 when all pass, else 1 after naming the step that failed."""
    service = ServiceCatalogue.load(config.catalogue_path).by_code.get(options.service_code)
    if service is None:
        raise ConfigError(f"--service {options.service_code!r} is not in the service catalogue")
    with ExitStack() as stack:
        channel = stack.enter_context(_open_channel(options))
        # Every check that can refuse comes before the demo accounts are made or re-keyed.
        _check_reachable(channel, options.target)
        print(f"Civitas demo against {options.target}", file=out)
        agency_key, auditor_key = _demo_keys(config, options, service, out)
        folder = options.out or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        folder.mkdir(parents=True, exist_ok=True)
        tour = Tour(
            agency=CivitasClient(channel, agency_key),
            auditor=CivitasClient(channel, auditor_key),
            service=service,
            origin=config.rp_origins[0],
            folder=folder,
            out=out,
        )
        steps = tour.steps()
        for number, (heading, step) in enumerate(steps, 1):
            print(f"\n[{number}/{len(steps)}] {heading}", file=out)
            try:
                step()
            except grpc.RpcError as error:
                return _failed(number, heading, describe_error(error), out)
            except (StepFailed, IncompleteStream, OSError, subprocess.SubprocessError) as error:
                return _failed(number, heading, str(error), out)
            except (ValueError, LookupError) as error:  # a reply the demo could not read
                return _failed(number, heading, f"{type(error).__name__}: {error}", out)
        kept = f"kept in {folder}" if options.out else "pass --out DIR to keep them"
        print(f"\nAll {len(steps)} steps passed. Receipt and bundle: {kept}.", file=out)
    return 0


def _open_channel(options: DemoOptions) -> grpc.Channel:
    try:
        return channel_for(options.target, options.tls)
    except OSError as error:  # the TLS files are read here
        raise ConfigError(f"cannot read {error.filename} ({error.strerror})") from None


def _check_reachable(channel: grpc.Channel, target: str) -> None:
    try:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=REACH_TIMEOUT
        )
    except grpc.RpcError as error:
        reason = describe_error(error)
        raise ConfigError(f"--target {target}: no server answers ({reason})") from None
    if health.status != health_pb2.HealthCheckResponse.SERVING:
        raise ConfigError(f"--target {target}: the server is not serving")


def _failed(number: int, heading: str, reason: str, out: TextIO) -> int:
    print(f"  FAILED: {reason}", file=out)
    print(f"civitas demo: step {number} ({heading}) failed: {reason}", file=sys.stderr)
    return 1


def _demo_keys(
    config: Config, options: DemoOptions, service: ServiceEntry, out: TextIO
) -> tuple[str, str]:
    """The keys given, or keys of demo service accounts made in the server's data folder (a
    running server sees the CLI's writes). The keys stay in this process: never printed."""
    if options.agency_key and options.auditor_key:
        return options.agency_key, options.auditor_key
    node = Node(config)
    try:
        if not node.keys.exists():
            raise ConfigError(
                f"no ledger in {config.data_dir}: give --agency-key and --auditor-key, or the "
                "server's --data-dir"
            )
        wanted = {
            # The demo's portal registers, signs citizens in and runs its agency's cases.
            "agency": (
                options.agency_key,
                f"demo-{service.agency}",
                f"agency:{service.agency},registrar,relying-service",
            ),
            "auditor": (options.auditor_key, "demo-auditor", "auditor"),
        }
        keys: dict[str, str] = {}
        for kind, (given, name, role) in wanted.items():
            if given:
                keys[kind] = given
                continue
            keys[kind], done = create_or_rekey(node, name, role)
            print(f"  service account {name} ({role}) {done} in {config.data_dir}", file=out)
    finally:
        node.close()
    return keys["agency"], keys["auditor"]


def create_or_rekey(node: Node, name: str, role: str) -> tuple[str, str]:
    """The account's new API key, and what was done to get it."""
    actor = operator_actor()
    try:
        return node.accounts.create(name, role, actor=actor).api_key, "created"
    except Conflict:
        existing = node.accounts.find(name)
        if existing is None:
            raise ConfigError(
                f"account {name} exists but is revoked: pass the keys explicitly"
            ) from None
        done = "given a new key"
        if existing.role != role:  # a demo account from before capabilities (issue 13)
            node.accounts.change_role(name, role, actor=actor)
            done = f"given the capabilities {role} and a new key"
        # A demo account from an earlier run: its old key was never shown, so replace it.
        return node.accounts.replace_key(name, actor=actor).api_key, done


class Tour:
    """The steps, in order, sharing what earlier ones produced."""

    def __init__(
        self,
        *,
        agency: CivitasClient,
        auditor: CivitasClient,
        service: ServiceEntry,
        origin: str,
        folder: Path,
        out: TextIO,
    ) -> None:
        self.agency, self.auditor, self.service = agency, auditor, service
        self.folder, self.out = folder, out
        self.passkey = SoftAuthenticator(origin)
        self.password = f"demo {secrets.token_urlsafe(12)}"  # never printed
        self.citizen_id = ""
        self.activation_code = ""  # never printed: the registrar hands it to the citizen
        self.totp: TotpApp | None = None
        self.token = ""
        self.case: tpb.Transaction | None = None
        self.history: list[hpb.HistoryItem] = []
        self.checkpoint_key = ""

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        return [
            ("Register a citizen", self.register),
            ("Set a password with the activation code", self.set_password),
            ("Enrol TOTP (an authenticator app)", self.enrol_totp),
            ("Authenticate with password and TOTP", self.authenticate_totp),
            ("Enrol a passkey (software authenticator)", self.enrol_passkey),
            ("Authenticate with the passkey", self.authenticate_passkey),
            ("Refresh the session, then use the new token", self.refresh_session),
            ("Submit a permit application", self.submit),
            ("Review and approve the permit", self.approve),
            ("The citizen's history, with their own token", self.list_history),
            ("A receipt, verified offline", self.receipt),
            ("Export the ledger over the AuditService", self.export),
            ("Verify the export with civitas-verify", self.verify_bundle),
        ]

    def say(self, line: str) -> None:
        print(f"  {line}", file=self.out)

    def why(self, line: str) -> None:
        print(f"  why it matters: {line}", file=self.out)

    def register(self) -> None:
        personal = {
            "given_name": "Maria",
            "family_name": "Demo",
            "birth_date": "1990-05-17",
            "national_identifier": f"DEMO-{secrets.token_hex(6).upper()}",
        }
        citizen = self.agency.register(personal, "IAL2", "demo: ID card at counter")
        self.citizen_id, self.activation_code = citizen.citizen_id, citizen.activation_code
        self.say(f"citizen {self.citizen_id} registered at IAL2 (eIDAS substantial)")
        self.say("a single-use activation code came back once, for the citizen (not shown)")
        self.why(
            "the personal data is sealed field by field with the citizen's own key; the "
            "ledger entry holds only its hash, so erasure later leaves every proof intact."
        )

    def set_password(self) -> None:
        factor = self.agency.set_password(
            self.citizen_id, self.password, proof=activation(self.activation_code)
        )
        self.say(f"password set (authenticator {factor.authenticator_id}), stored as Argon2id")
        self.why(
            "only the citizen changes their authenticators: the first with the activation "
            "code their registrar handed them, each later one with their own session's token."
        )

    def enrol_totp(self) -> None:
        session = self.agency.authenticate_password(self.citizen_id, self.password)
        self.say(f"signed in with the password ({session.acr}) to add a second factor")
        self.totp = self.agency.enrol_totp(
            self.citizen_id, "demo phone", proof=citizen_token(session.token)
        )
        self.say(f"otpauth URI (an app scans it as a QR code): {self.totp.provisioning_uri}")
        self.say(
            f"confirmed with the app's first code (authenticator {self.totp.authenticator_id})"
        )
        self.why(
            "the confirmation proves the app holds the seed; each 30-second code is then "
            "accepted once (RFC 6238), so a code seen over a shoulder cannot be replayed."
        )

    def enrol_passkey(self) -> None:
        # The citizen now has two factors: adding one needs their AAL2 session (step-up).
        factor = self.agency.enrol_passkey(
            self.citizen_id, self.passkey, "demo laptop", proof=citizen_token(self.token)
        )
        self.say(f"passkey registered (authenticator {factor.authenticator_id}), ES256 key")
        self.why(
            "the private key never leaves the authenticator and is bound to the site's "
            "origin, so a phishing page cannot use it."
        )

    def authenticate_totp(self) -> None:
        if self.totp is None:
            raise StepFailed("no TOTP app: the enrolment step did not run")
        client = ipb.ClientContext(address="192.0.2.10", user_agent="civitas demo")
        result = self.agency.authenticate_totp(self.citizen_id, self.totp, self.password, client)
        self._expect_level(result, "AAL2")
        self.token = result.token
        self.why(
            "two factors of different kinds reach AAL2; the attempt and the session are signed "
            "ledger events, and the EdDSA token verifies offline against the published JWKS."
        )

    def authenticate_passkey(self) -> None:
        result = self.agency.authenticate_passkey(self.citizen_id, self.passkey)
        self._expect_level(result, "AAL2")
        self.why(
            "a user-verified passkey is two factors in one and resists phishing: AAL2, amr swk. "
            "This one is software and unattested; only a hardware key whose attestation chains "
            "to a root the operator allow-lists (--attestation-roots, --allow-aal3) earns AAL3."
        )

    def refresh_session(self) -> None:
        client = ipb.ClientContext(address="192.0.2.10", user_agent="civitas demo")
        refreshed = self.agency.refresh_session(self.token, client)
        old = self.agency.introspect(self.token)
        if old.active or old.reason != "rotated":
            raise StepFailed(f"the replaced token is still accepted ({old.reason or 'active'})")
        self.token = refreshed.token  # the next steps use it: the history is read with it
        current = self.agency.introspect(self.token)
        if not current.active or current.session_id != refreshed.session_id:
            raise StepFailed(f"the new token is not accepted ({current.reason})")
        self.say(
            f"session {refreshed.session_id} continues with a new token until "
            f"{refreshed.expires_at.ToJsonString()}; the old one is refused as {old.reason!r}"
        )
        self.why(
            "a short-lived token keeps a long session only by being replaced: each refresh is "
            "a ledger event, and a replaced token presented again ends the session (theft)."
        )

    def _expect_level(self, result: ipb.AuthenticationResult, *levels: str) -> None:
        if result.acr not in levels:
            raise StepFailed(f"signed in at {result.acr}, expected {' or '.join(levels)}")
        self.say(
            f"signed in at {result.acr} (eIDAS {result.eidas_level}), methods "
            f"{', '.join(result.amr)}; session {result.session_id}, token until "
            f"{result.expires_at.ToJsonString()}"
        )

    def submit(self) -> None:
        document = hashlib.sha256(b"demo site plan").hexdigest()
        case = self.agency.submit_transaction(
            self.service.code,
            self.citizen_id,
            idempotency_key=str(uuid.uuid4()),
            amount=DEMO_FEE if self.service.amount == "required" else None,
            documents=[document],
            note="demo application",
        )
        self.case = case
        fee = f", fee {DEMO_FEE[0] / 100:.2f} {DEMO_FEE[1]}" if case.HasField("amount") else ""
        self.say(f"{self.service.title}: {case.reference} is {case.status}{fee}")
        self.say(f"document SHA-256 {document[:16]}… recorded, not the document itself")
        self.why(
            "the idempotency key makes a retried submission return this case, not a second one."
        )

    def approve(self) -> None:
        case = self._case()
        self.agency.start_review(case.transaction_id, "demo review")
        decided = self.agency.approve(case.transaction_id, "conforms to the plan")
        statuses = [change.status for change in decided.history]
        if decided.status != "APPROVED":
            raise StepFailed(f"the case is {decided.status}, not APPROVED")
        self.say(f"{decided.reference}: {' → '.join(statuses)}")
        self.agency.get_transaction(case.transaction_id, READ_PURPOSE)
        self.say(f"the agency read the case for {READ_PURPOSE!r}")
        self.why(
            "each step names its actor and reason, only the owning agency may take it, and "
            "even a read is recorded with its purpose for the citizen to see."
        )

    def list_history(self) -> None:
        case = self._case()
        deadline = time.monotonic() + PROJECTION_WAIT
        while True:
            self.history = self.agency.history(self.token)
            steps = [i for i in self.history if i.stream == case.transaction_id]
            reads = [i for i in self.history if READ_PURPOSE in i.summary_json]
            if (len(steps) >= 3 and reads) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if len(steps) < 3 or not reads:
            raise StepFailed(
                f"after {PROJECTION_WAIT:.0f} s the history shows {len(steps)} of the case's 3 "
                f"steps and {len(reads)} of its 1 recorded read"
            )
        for item in self.history:
            at = item.at.ToDatetime(UTC).isoformat(timespec="seconds")
            self.say(f"#{item.position:<5} {at}  {item.kind:<13} {item.type}")
        self.why(
            "only the citizen's own token opens this list; every sign-in, factor, case step "
            "and recorded read by an agency is there."
        )

    def receipt(self) -> None:
        item = next(i for i in reversed(self.history) if i.stream == self._case().transaction_id)
        receipt = self.agency.receipt(self.token, item.stream, item.version, wait=PROJECTION_WAIT)
        path = self.folder / "receipt.json"
        path.write_text(receipt, encoding="utf-8")
        leaf = json.loads(receipt).get("index", "?")
        self.say(f"receipt for {item.type} (leaf {leaf}) written to {path}")
        report = self._verify("receipt", str(path))
        self.say(f"civitas-verify receipt: {report.splitlines()[-1]}")
        self.why(
            "the citizen can prove, without trusting the server again, that this entry is "
            "in the log its signed checkpoint commits to."
        )

    def export(self) -> None:
        written = download_bundle(self.auditor, self.folder / "bundle")
        self.say(f"{written} entries, the latest checkpoint and the keyring")
        self.say(f"written to {self.folder / 'bundle'}")
        self.why("an auditor needs no access to the database: the API gives the same bytes.")

    def verify_bundle(self) -> None:
        report = self._verify("bundle", str(self.folder / "bundle"))
        for line in report.splitlines():
            self.say(line)
        self.why(
            "an independent program, sharing no code with the server, checked every "
            "signature, hash, version and Merkle root."
        )

    def _verify(self, mode: str, subject: str) -> str:
        if not self.checkpoint_key:
            # Pinned to the key the server publishes; in earnest, take it from the operator.
            self.checkpoint_key = self.auditor.keyring().checkpoint_keys[-1]
        command = [sys.executable, "-m", "verifier", mode, subject]
        command += ["--checkpoint-key", self.checkpoint_key]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=VERIFIER_TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise StepFailed(f"civitas-verify {mode} exited {done.returncode}:\n{done.stdout}")
        return done.stdout.strip()

    def _case(self) -> tpb.Transaction:
        if self.case is None:
            raise StepFailed("no case: the submission step did not run")
        return self.case
