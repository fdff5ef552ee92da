"""civitas-verify as an auditor runs it: a separate process, exit codes and the --json shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.verifier.bundle_factory import Log

REPO = Path(__file__).resolve().parents[2]


def _run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "verifier", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


def test_bundle_json_report_and_exit_codes(log: Log, bundle: Path) -> None:
    done = _run("bundle", str(bundle), "--json", "--jobs", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""  # no progress line when stderr is not a terminal
    report = json.loads(done.stdout)
    assert set(report) == {"ok", "mode", "subject", "entries", "checks", "erased", "notes"}
    assert (report["ok"], report["mode"], report["entries"]) == (True, "bundle", 40)
    assert report["erased"] == {"count": 2, "indices": [3, 11]}
    check = next(c for c in report["checks"] if c["name"] == "signature")
    assert set(check) == {
        "name",
        "ok",
        "status",
        "checked",
        "failed",
        "description",
        "meaning",
        "failures",
    }
    assert check["status"] == "passed"
    assert check["checked"] == 40

    (bundle / "checkpoints" / "20.txt").write_text(log.checkpoint(20, root=bytes(32)), "utf-8")
    done = _run("bundle", str(bundle), "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    root = next(c for c in report["checks"] if c["name"] == "checkpoint_root")
    assert root["failures"] == [
        {
            "index": None,
            "where": "checkpoints/20.txt",
            "reason": "root at size 20 differs from the root of the entries",
        }
    ]
    assert root["meaning"].startswith("the entries are not those the log committed to")


def test_the_text_report_names_the_failure_and_its_meaning(log: Log, bundle: Path) -> None:
    lines = (bundle / "entries.jsonl").read_text("utf-8").splitlines(keepends=True)
    lines[6] = lines[6].replace('"payload": "', '"payload": "AAAA', 1)
    (bundle / "entries.jsonl").write_text("".join(lines), "utf-8")
    done = _run("bundle", str(bundle))
    assert done.returncode == 1
    assert "FAIL payload" in done.stdout
    assert "leaf 6: stored payload does not hash to payload_sha256" in done.stdout
    assert "means: the stored payload bytes were changed" in done.stdout
    assert done.stdout.rstrip().endswith("RESULT: FAILED: payload")


def test_receipt_and_usage_errors(log: Log, tmp_path: Path) -> None:
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(log.receipt(12, 40)), "utf-8")
    done = _run("receipt", str(receipt), "--checkpoint-key", log.checkpoint_key.vkey, "--json")
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["mode"] == "receipt"
    assert _run("receipt", str(tmp_path / "absent.json")).returncode == 2
    assert _run("bundle").returncode == 2  # argparse: missing folder
    assert _run("live", "--target", "127.0.0.1:1", "--jobs", "1").returncode == 2  # nobody there


def test_the_installed_entry_point_runs() -> None:
    script = Path(sys.executable).parent / "civitas-verify"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "bundle" in done.stdout
    assert "receipt" in done.stdout
