"""The verifier remembers the last checkpoint it verified per log (issue 15 item 4), so a second
run catches a rollback or a fork with no flag: live against a fake AuditService, and bundles."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.verifier.bundle_factory import Log, make_log
from tests.verifier.fake_audit_service import API_KEY, FakeAuditService, serving
from verifier.bundle import verify_bundle
from verifier.cli import main
from verifier.live import Connection, verify_live
from verifier.report import Report, to_json
from verifier.state import VerifierState, default_state_dir
from verifier.trust import Pins


def _live(log: Log, state: VerifierState) -> Report:
    with serving(FakeAuditService(log)) as target:
        return verify_live(Connection(target, api_key=API_KEY), pins=Pins(), state=state)


def _truncated(log: Log, size: int) -> Log:
    """The same log cut back to `size` entries, its checkpoint re-signed (the key is held)."""
    return replace(log, records=log.records[:size])


def _forked(log: Log, index: int) -> Log:
    """The same log with entry `index` changed and re-signed (the key is held): another history."""
    records = list(log.records)
    fields = {**records[index].fields(), "actor": "service:forger"}
    records[index] = replace(log.sign_entry(fields), index=index, payload=records[index].payload)
    return replace(log, records=records)


def test_a_second_live_run_catches_a_rollback(log: Log, tmp_path: Path) -> None:
    state = VerifierState(tmp_path / "state")
    first = _live(log, state)
    assert first.ok, to_json(first)
    assert state.load(log.origin) == log.checkpoint(40)

    second = _live(_truncated(log, 33), state)
    assert "stored_checkpoint" in second.failed_checks()
    assert any("shrank" in f.reason for f in second.checks["stored_checkpoint"].failures)
    assert state.load(log.origin) == log.checkpoint(40)  # a failed run is never remembered


def test_a_second_live_run_catches_a_fork_of_a_longer_log(tmp_path: Path) -> None:
    state = VerifierState(tmp_path / "state")
    long = make_log(50, 4)
    assert _live(_truncated(long, 40), state).ok
    report = _live(_forked(long, 30), state)  # 50 entries, but not the 40 verified before
    assert "stored_checkpoint" in report.failed_checks()


def test_a_growing_log_moves_the_remembered_checkpoint(tmp_path: Path) -> None:
    state = VerifierState(tmp_path / "state")
    long = make_log(50, 4)
    assert _live(_truncated(long, 33), state).ok
    report = _live(long, state)
    assert report.ok, to_json(report)
    assert report.checks["stored_checkpoint"].checked >= 2  # its proof and its root
    assert state.load(long.origin) == long.checkpoint(50)


def test_forgetting_accepts_the_new_history_once(log: Log, tmp_path: Path) -> None:
    folder = tmp_path / "state"
    assert _live(log, VerifierState(folder)).ok
    assert not _live(_truncated(log, 33), VerifierState(folder)).ok
    assert _live(_truncated(log, 33), VerifierState(folder, forget=True)).ok
    assert _live(_truncated(log, 33), VerifierState(folder)).ok


def test_a_bundle_is_held_to_the_remembered_checkpoint(log: Log, tmp_path: Path) -> None:
    state = VerifierState(tmp_path / "state")
    full = log.write_bundle(tmp_path / "full", [20, 40])
    assert verify_bundle(full, pins=Pins(), state=state).ok
    rolled_back = _truncated(log, 33).write_bundle(tmp_path / "short", [20, 33])
    report = verify_bundle(rolled_back, pins=Pins(), state=state)
    assert "stored_checkpoint" in report.failed_checks()
    assert verify_bundle(rolled_back, pins=Pins()).ok  # without the state it looks fine


def test_the_cli_remembers_by_default_under_the_state_home(
    log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "home-state"))
    monkeypatch.setenv("CIVITAS_API_KEY", API_KEY)
    assert default_state_dir() == tmp_path / "home-state" / "civitas-verify"
    with serving(FakeAuditService(log)) as target:
        assert main(["live", "--target", target, "--jobs", "1"]) == 0
    with serving(FakeAuditService(_truncated(log, 33))) as target:
        assert main(["live", "--target", target, "--jobs", "1"]) == 1
        assert "stored_checkpoint" in capsys.readouterr().out
        assert main(["live", "--target", target, "--jobs", "1", "--no-state"]) == 0
