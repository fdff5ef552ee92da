"""A mixed-RPC write workload for load, crash and benchmark runs, in the shape of real traffic.

`run_workload` starts N client threads for D seconds against a server. Each client repeats one
citizen's journey through `civitas.client`: an agency registers the citizen, sets a password,
sometimes enrols TOTP, the citizen signs in (now and then mistyping the password first), the
agency submits a case (sometimes sending the same submission twice, as a retrying portal does)
and takes it down one of the lifecycle's paths, the citizen reads it, provides information or
withdraws, and looks at their history; the agency reads the case (a recorded read) and its queue.

Every call is recorded with its method, status code and latency, and whether the workload
expected that status (a mistyped password expects UNAUTHENTICATED; everything else expects OK).
Every acknowledged write (a call that returned OK, or the recorded refusal of a mistyped
password) is kept with what it created or changed, so a crash test can check afterwards that
each acknowledged RPC's events are in the ledger exactly once.

A failed call ends its journey, and the client starts a new one: under a crash or a database
restart the workload keeps going and records what it saw. `Workload.paused()` holds every client
between calls, for a look at a server at rest in the middle of a run.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from civitas.client import CivitasClient, activation, channel_for, citizen_token
from civitas.totp_app import TotpApp
from civitas.workload_result import AcknowledgedWrite, CallRecord, WorkloadResult
from ledger.catalogue import ServiceCatalogue, ServiceEntry

PASSWORD = "workload passphrase, long enough"  # noqa: S105 - every workload citizen's
WRONG_PASSWORD = "not the workload passphrase"  # noqa: S105 - the mistyped one
READ_PURPOSE = "load test: case review"
# The path a case takes after it is submitted, and how often (weights of a plausible day).
PATHS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("StartReview", "ApproveTransaction", "CompleteTransaction"), 4),
    (("StartReview", "RejectTransaction"), 2),
    (("StartReview", "RequestInformation", "ProvideInformation", "ApproveTransaction"), 2),
    (("StartReview", "RequestInformation", "ResumeReview", "RejectTransaction"), 1),
    (("WithdrawTransaction",), 1),
    (("StartReview",), 2),  # still open when the day ends
)
T = TypeVar("T")

__all__ = [
    "AcknowledgedWrite",
    "CallRecord",
    "Workload",
    "WorkloadResult",
    "WorkloadSettings",
    "run_workload",
]


@dataclass(frozen=True)
class WorkloadSettings:
    agency_keys: Mapping[str, str]  # agency name (the `<name>` of `agency:<name>`) -> API key
    clients: int = 8
    seconds: float = 10.0
    catalogue: ServiceCatalogue = field(default_factory=ServiceCatalogue.load)
    seed: int | None = None  # for a repeatable mix of journeys (timing still varies)
    mistype_rate: float = 0.2  # share of sign-ins preceded by a wrong password
    totp_rate: float = 0.5  # share of citizens who enrol TOTP and sign in with two factors
    retry_rate: float = 0.1  # share of submissions sent twice with one idempotency key

    def services(self) -> list[tuple[str, ServiceEntry]]:
        """(agency, service) pairs the given keys may submit to."""
        return [(e.agency, e) for e in self.catalogue.entries() if e.agency in self.agency_keys]


def run_workload(settings: WorkloadSettings, target: str) -> WorkloadResult:
    """Run the clients against `target` (HOST:PORT) for `settings.seconds`."""
    workload = Workload(settings, target)
    workload.start()
    try:
        time.sleep(settings.seconds)
    finally:
        result = workload.stop()
    return result


class Workload:
    """The clients, started, paused and stopped from outside. Against `target` (HOST:PORT)
    each client opens its own plaintext channel."""

    def __init__(self, settings: WorkloadSettings, target: str) -> None:
        if not settings.services():
            raise ValueError("no service in the catalogue belongs to the given agencies")
        self._settings = settings
        self._gate = _Gate()
        seeds = random.Random(settings.seed)  # noqa: S311 - a workload's mix, not a secret
        self._clients = [
            _Client(settings, channel_for(target), seeds.random(), self._gate)
            for _ in range(settings.clients)
        ]
        self._threads = [
            threading.Thread(target=client.run, name=f"workload-{n}", daemon=True)
            for n, client in enumerate(self._clients)
        ]

    def start(self) -> None:
        self._gate.started = time.monotonic()
        for thread in self._threads:
            thread.start()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold every client before its next call; enter once no call is in flight (a
        server at rest, e.g. to measure its memory), and let them go on at the end."""
        self._gate.close()
        try:
            yield
        finally:
            self._gate.open()

    def stop(self) -> WorkloadResult:
        """Stop the clients after their current call, and give what they saw."""
        self._gate.stop()
        for thread in self._threads:
            thread.join()
        for client in self._clients:
            client.channel.close()
        clients = self._clients
        return WorkloadResult(
            clients=self._settings.clients,
            seconds=self._gate.running_seconds(),
            calls=[call for c in clients for call in c.calls],
            writes=[write for c in clients for write in c.writes],
            anomalies=[anomaly for c in clients for anomaly in c.anomalies],
            journeys=sum(c.journeys for c in clients),
        )


class _Gate:
    """Whether clients may make their next call, and how many calls are in flight."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._closed_at = 0.0
        self._paused_seconds = 0.0
        self.stopping = False
        self.started = 0.0
        self._stopped = 0.0

    def enter(self) -> bool:
        """Wait while paused; False once stopping (make no more calls)."""
        with self._condition:
            self._condition.wait_for(lambda: not self._closed or self.stopping)
            if self.stopping:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._condition:
            self._in_flight -= 1
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._closed, self._closed_at = True, time.monotonic()
            self._condition.wait_for(lambda: self._in_flight == 0)

    def open(self) -> None:
        with self._condition:
            self._closed = False
            self._paused_seconds += time.monotonic() - self._closed_at
            self._condition.notify_all()

    def stop(self) -> None:
        with self._condition:
            self.stopping = True
            self._stopped = time.monotonic()
            self._condition.notify_all()

    def running_seconds(self) -> float:
        """Wall time from start to stop, less the pauses."""
        return max(0.0, self._stopped - self.started - self._paused_seconds)


class _JourneyEnded(Exception):
    """A call failed in a way the journey cannot go on from."""


class _Client:
    def __init__(
        self,
        settings: WorkloadSettings,
        channel: grpc.Channel,
        seed: float,
        gate: _Gate,
    ) -> None:
        self.settings = settings
        self.channel = channel
        self.calls: list[CallRecord] = []
        self.writes: list[AcknowledgedWrite] = []
        self.anomalies: list[str] = []
        self.journeys = 0
        self._random = random.Random(seed)  # noqa: S311 - a workload's mix, not a secret
        self._gate = gate
        self._services = settings.services()
        self._apis = {
            agency: CivitasClient(channel, key) for agency, key in settings.agency_keys.items()
        }

    def run(self) -> None:
        while not self._gate.stopping:
            try:
                self._journey()
            except _JourneyEnded:
                continue
            self.journeys += 1

    def _journey(self) -> None:
        agency, service = self._random.choice(self._services)
        api = self._apis[agency]
        national_id = f"WL-{uuid.uuid4().hex}"
        registered = self._call(
            "RegisterCitizen",
            lambda: api.register(
                {"national_identifier": national_id, "given_name": "Load", "family_name": "Test"},
                evidence="load test",
            ),
        )
        citizen = registered.citizen_id
        self._acknowledged("RegisterCitizen", citizen, "registered")
        # The citizen's first factor comes with their activation code, the next with a session.
        code = activation(registered.activation_code)
        self._call("SetPassword", lambda: api.set_password(citizen, PASSWORD, proof=code))
        self._acknowledged("SetPassword", citizen, "password set")
        totp = None
        if self._chance(self.settings.totp_rate):
            totp = self._enrol_totp(api, citizen, self._sign_in(api, citizen, None))
        token = self._sign_in(api, citizen, totp)
        case = self._submit(api, service, citizen)
        self._lifecycle(api, case, token)
        self._read(api, case, token)

    def _enrol_totp(self, api: CivitasClient, citizen: str, token: str) -> TotpApp:
        proof = citizen_token(token)
        enrollment = self._call(
            "BeginTotpEnrollment", lambda: api.begin_totp_enrolment(citizen, proof=proof)
        )
        self._acknowledged("BeginTotpEnrollment", citizen, enrollment.authenticator_id)
        app = TotpApp(enrollment.provisioning_uri, enrollment.authenticator_id)
        authenticator = enrollment.authenticator_id
        self._call(
            "ConfirmTotpEnrollment",
            lambda: api.confirm_totp_enrolment(
                citizen, authenticator, app.next_code(), proof=proof
            ),
        )
        self._acknowledged("ConfirmTotpEnrollment", citizen, authenticator)
        return app

    def _sign_in(self, api: CivitasClient, citizen: str, totp: TotpApp | None) -> str:
        if self._chance(self.settings.mistype_rate):
            attempt = self._begin_authentication(api, citizen)
            self._refused(
                "CompleteAuthentication",
                lambda: api.complete_authentication(attempt, password=WRONG_PASSWORD),
                grpc.StatusCode.UNAUTHENTICATED,
            )
            self._acknowledged("CompleteAuthentication", citizen, "failed")  # recorded by design
        attempt = self._begin_authentication(api, citizen)
        result = self._call(
            "CompleteAuthentication",
            lambda: api.complete_authentication(
                attempt, password=PASSWORD, totp_code=totp.next_code() if totp else ""
            ),
        )
        self._acknowledged("CompleteAuthentication", citizen, "succeeded")
        return result.token

    def _begin_authentication(self, api: CivitasClient, citizen: str) -> str:
        challenge = self._call("BeginAuthentication", lambda: api.begin_authentication(citizen))
        self._acknowledged("BeginAuthentication", challenge.attempt_id, "started")
        return challenge.attempt_id

    def _submit(self, api: CivitasClient, service: ServiceEntry, citizen: str) -> str:
        key = f"wl-{uuid.uuid4().hex}"
        amount = (self._random.randrange(100, 100_000), "EUR")
        given = amount if service.amount != "none" else None

        def submit() -> str:
            transaction = api.submit_transaction(service.code, citizen, key, amount=given)
            return transaction.transaction_id

        case = self._call("SubmitTransaction", submit)
        self._acknowledged("SubmitTransaction", case, "SUBMITTED")
        if self._chance(self.settings.retry_rate):
            again = self._call("SubmitTransaction", submit)
            if again != case:
                self.anomalies.append(f"a retried submission made a second case: {case}, {again}")
        return case

    def _lifecycle(self, api: CivitasClient, case: str, token: str) -> None:
        paths, weights = zip(*PATHS, strict=True)
        steps: dict[str, Callable[[], str]] = {
            "StartReview": lambda: api.start_review(case, "assigned to an officer").status,
            "RequestInformation": lambda: api.request_information(case, "proof of address").status,
            "ResumeReview": lambda: api.resume_review(case, "no longer needed").status,
            "ApproveTransaction": lambda: api.approve(case, "meets the requirements").status,
            "RejectTransaction": lambda: api.reject(case, "outside the rules").status,
            "CompleteTransaction": lambda: api.complete(case, "issued").status,
            "WithdrawTransaction": lambda: api.withdraw(token, case, "changed my mind").status,
            "ProvideInformation": lambda: (
                api.provide_information(token, case, [uuid.uuid4().hex * 2], "attached").status
            ),
        }
        for step in self._random.choices(paths, weights)[0]:
            status = self._call(step, steps[step])
            self._acknowledged(step, case, status)

    def _read(self, api: CivitasClient, case: str, token: str) -> None:
        self._call("GetTransaction", lambda: api.get_transaction(case, READ_PURPOSE))
        self._acknowledged("GetTransaction", case, "read recorded")
        self._call("GetTransaction", lambda: api.my_transaction(token, case))
        self._call("ListMyHistory", lambda: api.history(token))
        self._call("ListTransactions", lambda: api.list_transactions(["IN_REVIEW"], 20))

    def _call(self, method: str, call: Callable[[], T]) -> T:
        """Make one call that should succeed, and record it; a failure ends the journey."""
        value, code = self._timed(method, call, grpc.StatusCode.OK)
        if code != grpc.StatusCode.OK:
            raise _JourneyEnded
        return value  # type: ignore[return-value]  # set whenever the call succeeded

    def _refused(self, method: str, call: Callable[[], object], code: grpc.StatusCode) -> None:
        """Make one call that should be refused with `code`, and record it."""
        if self._timed(method, call, code)[1] != code:
            raise _JourneyEnded

    def _timed(
        self, method: str, call: Callable[[], T], expect: grpc.StatusCode
    ) -> tuple[T | None, grpc.StatusCode]:
        if not self._gate.enter():
            raise _JourneyEnded
        started = time.perf_counter()
        try:
            value: T | None = call()
            code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            value, code = None, _code(error)
        finally:
            self._gate.leave()
        seconds = time.perf_counter() - started
        self.calls.append(CallRecord(method, code.name, seconds, code == expect))
        return value, code

    def _acknowledged(self, method: str, aggregate_id: str, outcome: str) -> None:
        self.writes.append(AcknowledgedWrite(method, aggregate_id, outcome))

    def _chance(self, rate: float) -> bool:
        return self._random.random() < rate


def _code(error: grpc.RpcError) -> grpc.StatusCode:
    code = error.code() if isinstance(error, grpc.Call) else None
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
