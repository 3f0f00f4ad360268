"""`rlhf report` as a user runs it: a run directory in, one HTML file and a JSON summary out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from report_samples import write_run_dir


def rlhf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rlhf", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_report_writes_the_page_and_counts_what_it_found(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "run")
    result = rlhf("report", str(run_dir), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    report = run_dir / "report.html"
    assert summary == {"ok": True, "report": str(report), "summary": True, "runs": 2,
                       "evals": 1, "quality": 1}  # fmt: skip
    assert f"report written to {report}" in result.stderr
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("data:image/png;base64,") == 6

    other = tmp_path / "elsewhere" / "page.html"
    other.parent.mkdir()
    result = rlhf("report", str(run_dir), "--output", str(other))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"report written to {other}"
    assert other.read_text() == html


def test_a_missing_run_dir_exits_1_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-run"
    result = rlhf("report", str(missing), "--json")
    assert result.returncode == 1
    assert f"rlhf report: error: {missing}: no such directory" in result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["ok"] is False
    assert "Traceback" not in result.stderr


def test_a_malformed_file_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "run")
    with (run_dir / "ppo" / "metrics.jsonl").open("a") as metrics:
        metrics.write('{"step": 21, "kl": 0.\n')
    result = rlhf("report", str(run_dir))
    assert result.returncode == 1
    assert f"{run_dir / 'ppo' / 'metrics.jsonl'}:21: not JSON" in result.stderr
    assert not (run_dir / "report.html").exists()
