"""`rlhf demo`, the main job, run as a newcomer runs it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path


def test_demo_runs_every_step_and_reports_what_it_did(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "rlhf", "demo", "--output", str(out), "--prompts", "120", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["data"]["pairs"] == 120
    assert summary["store"]["tables"]["items"] == 120
    model = summary["model"]
    assert math.isclose(model["ln_vocab"], math.log(model["vocab"]), rel_tol=1e-3)
    assert abs(model["untrained_loss"] - model["ln_vocab"]) < 0.5
    assert set(summary["timings"]) == {
        "data: generate, write, validate, convert",
        "store: import and export",
        "models: tokenizer and tiny language model",
    }
    for path in summary["data"]["files"].values():
        assert Path(path).is_file()
    assert (out / "tiny-gpt2" / "model.safetensors").is_file()
    assert "round trip exact" in result.stderr  # the human account of each step


def test_demo_rejects_a_bad_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rlhf", "demo", "--prompts", "3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "prompts must be at least 10" in result.stderr


def test_demo_reruns_in_the_same_directory_without_losing_the_store(tmp_path: Path) -> None:
    from rlhf.demo import DemoConfig, run_demo

    config = DemoConfig(output=tmp_path, prompts=20)
    first = run_demo(config, lambda _: None)
    said: list[str] = []
    second = run_demo(config, said.append)
    assert second["store"]["tables"] == first["store"]["tables"]  # nothing lost, nothing doubled
    assert any("20 duplicates skipped" in line for line in said)
