"""`rlhf demo`, the main job, run as a newcomer runs it.

A small demo checks that every phase runs and leaves what it says, and that a rerun in the same
directory loses nothing and reproduces its figures. The full default demo, whose results are
asserted (the final policy beats SFT, the reward model beats the raw majority vote, the spammer is
found), is README's first command: `tests/integration/test_docs.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rlhf.store import Store

SMALL = ["--prompts", "100", "--eval-prompts", "30", "--pairs-per-round", "60",
         "--sft-steps", "20", "--ppo-steps", "2"]  # fmt: skip
"""Too small to show results (the checks may fail: exit 1), large enough to run every phase."""
PHASES = ["data", "sft"] + [
    f"round {r}: {phase}"
    for r in (1, 2)
    for phase in ("collect", "check the humans", "reward model", "PPO", "DPO", "evaluate")
] + ["best-of-n", "report"]  # fmt: skip
FIGURES = {"gold_win_rate", "gold_win_rate_ci_low", "rm_gold_agreement",
           "majority_gold_agreement", "kl", "seconds", "report"}  # fmt: skip


def demo(*args: str) -> tuple[int, dict[str, Any], str]:
    result = subprocess.run(
        [sys.executable, "-m", "rlhf", "demo", *args, "--json", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def answers_per_campaign(db: Path) -> dict[str, int]:
    with Store.open(f"sqlite:///{db}") as store:
        campaigns = store.campaigns.all()
    assert all(c.labels == c.target for c in campaigns)  # every item by `overlap` annotators
    return {c.name: c.labels for c in campaigns}


@pytest.mark.slow
def test_a_small_demo_runs_every_phase_and_a_rerun_keeps_the_store(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    code, summary, stderr = demo("--output", str(out), *SMALL)
    assert code in (0, 1), stderr  # 1: ran, but too small to show every result
    assert set(summary) >= FIGURES
    assert list(summary["timings"]) == PHASES
    assert len(summary["rounds"]) == 2
    assert (code == 0) == all(summary["checks"].values())
    for path in ("summary.json", "report.html", "best-of-n.eval.json", "sft/model.safetensors",
                 "round-1/quality.json", "round-1/quality.html", "round-1/labels.jsonl",
                 "round-2/ppo.eval.json", "round-2/dpo.eval.json",
                 "round-2/reward-model/reward_model.json", "round-2/ppo/metrics.jsonl"):  # fmt: skip
        assert (out / path).is_file(), path
    assert "round-2/ppo.eval.json" in (out / "report.html").read_text()
    first = answers_per_campaign(out / "feedback.db")
    assert list(first) == ["run-1/round-1", "run-1/round-2"]

    code_again, again, _ = demo("--output", str(out), *SMALL)
    assert code_again == code
    second = answers_per_campaign(out / "feedback.db")
    assert second == first | {"run-2/round-1": first["run-1/round-1"],
                              "run-2/round-2": first["run-1/round-2"]}  # fmt: skip
    same = {k for k in FIGURES if k not in ("seconds", "report")}
    assert {k: again[k] for k in same} == {k: summary[k] for k in same}  # seeded: reproducible


def test_demo_rejects_a_bad_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rlhf", "demo", "--prompts", "3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "prompts must be at least 100" in result.stderr
