"""Running the verifier in-process and reading its reports, for the tests."""

from __future__ import annotations

from pathlib import Path

from verifier.bundle import verify_bundle
from verifier.report import Report
from verifier.trust import Pins


def verify(folder: Path, *, pins: Pins | None = None, trusted: str | None = None) -> Report:
    """The whole bundle check, in-process (jobs=1) to keep the tests fast."""
    return verify_bundle(folder, pins=pins or Pins(), trusted_checkpoint=trusted, jobs=1)


def failed(report: Report) -> set[str]:
    return set(report.failed_checks())


def failure_indices(report: Report, check: str) -> list[int | None]:
    return [failure.index for failure in report.checks[check].failures]
