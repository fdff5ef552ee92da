"""The report's shape and the progress line's manners."""

from __future__ import annotations

import io
from pathlib import Path

from tests.verifier.reports import verify
from verifier.progress import Progress
from verifier.report import Report, to_text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_silent_unless_stderr_is_a_terminal() -> None:
    piped, terminal = io.StringIO(), _Terminal()
    for stream in (piped, terminal):
        progress = Progress("verifying", stream)
        progress.update(1234, 0.5)
        progress.close()
    assert piped.getvalue() == ""
    assert "1,234 entries" in terminal.getvalue()
    assert "50.0%" in terminal.getvalue()


def test_checks_that_could_not_run_are_not_shown_as_passed(bundle: Path) -> None:
    (bundle / "keyring.json").write_text("[]", "utf-8")
    report = verify(bundle)
    assert report.checks["keyring"].status == "failed"
    assert report.checks["signature"].status == "not run"
    text = to_text(report)
    assert "--   signature" in text
    assert "(not run)" in text


def test_failures_are_counted_fully_but_listed_briefly() -> None:
    report = Report("bundle", "x")
    for index in range(100):
        report.check("signature").fail("bad", index=index)
    check = report.checks["signature"]
    assert (check.failed, len(check.failures), check.failures[0].index) == (100, 20, 0)
    assert "… and 80 more" in to_text(report)
    assert not report.ok
