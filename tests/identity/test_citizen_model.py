"""Hypothesis state machine: the Citizen aggregate against a plain model of its rules.

Random sequences of enrolment, good and bad sign-ins, replays, waiting and unlocking; after every
step the aggregate's lockout state equals the model's, and every attempt left exactly one event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from identity.citizen import Attempt, Citizen, FactorChecks, PasskeyResult, Presented
from identity.lockout import LockoutPolicy, is_locked, retry_after

POLICY = LockoutPolicy()
ACTOR = "service:model"

CHECKS = FactorChecks(
    password_matches=lambda password, stored: password == "right" and stored == "hash",
    # A TOTP "code" here is the time step it belongs to: the replay rule is what is modelled.
    totp_step=lambda seed, code, now: int(code) if code.isdigit() else None,
    passkey=lambda factors, assertion: PasskeyResult("", False, "passkey_unknown_credential"),
    recovery_code_index=lambda code, factor: None,
)


class CitizenMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        self.citizen = Citizen(uuid.uuid4(), {}, "h", "IAL2", "", actor=ACTOR)
        self.events = list(self.citizen.collect_events())
        self.failures = {"password": 0, "totp": 0}
        self.last_failure: dict[str, datetime | None] = {"password": None, "totp": None}
        self.enrolled = {"password": False, "totp": False}
        self.last_step = -1

    @rule()
    def set_password(self) -> None:
        self.citizen.set_password("hash", actor=ACTOR)
        self.enrolled["password"] = True
        self.failures["password"], self.last_failure["password"] = 0, None
        assert self._collected() == 1

    @precondition(lambda self: not self.enrolled["totp"])
    @rule(step=st.integers(min_value=0, max_value=5))
    def enrol_totp(self, step: int) -> None:
        authenticator_id = self.citizen.start_totp_enrollment("sealed", "app", actor=ACTOR)
        self.citizen.confirm_totp(authenticator_id, step, actor=ACTOR)
        self.enrolled["totp"] = True
        self.last_step = step
        assert self._collected() == 2

    @rule(method=st.sampled_from(["password", "totp"]), good=st.booleans(), replay=st.booleans())
    def sign_in(self, method: str, good: bool, replay: bool) -> None:
        if method == "password":
            presented = Presented(password="right" if good else "wrong")
        else:
            step = self.last_step if replay else self.last_step + 1
            presented = Presented(totp_code=str(step) if good else "bad")
        outcome = self.citizen.authenticate(
            Attempt(str(uuid.uuid4()), "portal", "", ""),
            presented,
            CHECKS,
            POLICY,
            self.now,
            session_id=str(uuid.uuid4()),
            allow_aal3=False,
            actor=ACTOR,
        )
        assert self._collected() == 1  # one attempt, one event
        expected = self._model_outcome(method, good, replay)
        assert (outcome.ok, outcome.reason) == expected

    def _model_outcome(self, method: str, good: bool, replay: bool) -> tuple[bool, str]:
        if not self.enrolled[method]:
            return False, f"{method}_not_enrolled"
        failures, last = self.failures[method], self.last_failure[method]
        if is_locked(POLICY, failures):
            return False, f"{method}_locked"
        if retry_after(POLICY, failures, last, self.now) > timedelta(0):
            return False, f"{method}_throttled"
        if method == "totp" and good and replay and self.last_step >= 0:
            reason = "totp_replayed"
        elif not good:
            reason = "password_mismatch" if method == "password" else "totp_mismatch"
        else:
            self.failures[method], self.last_failure[method] = 0, None
            if method == "totp":
                self.last_step += 1
            return True, ""
        self.failures[method] += 1
        self.last_failure[method] = self.now
        return False, reason

    @rule(seconds=st.integers(min_value=1, max_value=3600))
    def wait(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(method=st.sampled_from(["password", "totp"]))
    def admin_unlocks(self, method: str) -> None:
        if not self.enrolled[method]:
            return
        self.citizen.unlock(method, "checked at the counter", actor="service:admin")
        assert self._collected() == 1
        self.failures[method], self.last_failure[method] = 0, None

    @invariant()
    def lockout_state_matches_the_model(self) -> None:
        for factor in self.citizen.factors.values():
            if factor.confirmed:
                assert factor.failures == self.failures[factor.method]
                assert is_locked(POLICY, factor.failures) == is_locked(
                    POLICY, self.failures[factor.method]
                )

    def _collected(self) -> int:
        new = self.citizen.collect_events()
        self.events.extend(new)
        return len(new)

    @invariant()
    def replaying_the_events_gives_the_same_state(self) -> None:
        rebuilt = None
        for domain_event in self.events:
            rebuilt = domain_event.mutate(rebuilt)
        assert isinstance(rebuilt, Citizen)
        assert rebuilt.factors == self.citizen.factors
        assert rebuilt.version == self.citizen.version


CitizenMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestCitizenModel = CitizenMachine.TestCase
