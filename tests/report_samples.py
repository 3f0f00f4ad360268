"""A synthetic run directory for the `rlhf report` tests (unit, command line and browser).

It holds one of everything the report reads: a `summary.json` with figures and their sources,
an online run whose gold reward peaks while the proxy keeps rising, an SFT run with its resolved
config, an eval summary made by `EvalResult.as_json`, and a quality summary of simulated
annotators. Model text and names carry HTML, to show that the report escapes it.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

from rlhf.eval.compare import EvalResult, Sample, SideResult
from rlhf.quality.analysis import analyze
from rlhf.quality.bootstrap import Estimate
from rlhf.quality.labels import LabelTable
from rlhf.quality.simulate import PLANTED, annotate, synthetic_items

SCRIPT = "<script>alert(1)</script>"
PROMPTS = ("What is 2 + 2?", "Name a prime.", "Capital of France?")
FIGURES = {
    "win rate against SFT": {"value": 0.667, "source": "eval/ppo.eval.json: win_rate <policy>"},
    "gold reward after PPO": {"value": None, "source": "no gold scorer & none logged"},
}
TIMINGS = {"sft": 1.5, "reward model": 0.75, "ppo": 3.25}
ROUNDS = [
    {"round": 1, "pairs": 40, "win_rate": 0.6},
    {"round": 2, "pairs": 80, "win_rate": None, "note": "annotators disagreed"},
]


def online_rows(steps: int = 20) -> list[dict[str, Any]]:
    """PPO-like rows: KL grows, the proxy rises, the gold reward peaks at sqrt(KL) = 1."""
    rows = []
    for step in range(1, steps + 1):
        kl = 0.01 * step**2
        rows.append(
            {
                "step": step,
                "reward/score": 0.5 * math.sqrt(kl),
                "gold/score": 1.0 - (math.sqrt(kl) - 1.0) ** 2,
                "reward/shaped": 0.5 * math.sqrt(kl) - 0.05 * kl,
                "kl": kl,
                "kl/coef": 0.05,
                "response/length": 20.0 + step,
                "policy/loss": 1.0 / step,
                "value/loss": 0.5 / step,
                "timing/generate": 0.1,
                **({"eval/reward": 0.4 * math.sqrt(kl)} if step % 5 == 0 else {}),
            }
        )
    rows[3]["gold/score"] = None  # a nan is logged as null
    return rows


def sft_rows(steps: int = 10) -> list[dict[str, Any]]:
    return [
        {
            "step": s,
            "train/loss": 2.0 / s,
            "optim/lr": 1e-4,
            **({"eval/loss": 1.5} if s == 10 else {}),
        }
        for s in range(1, steps + 1)
    ]


def _side(model: str, responses: tuple[str, ...], judged: tuple[float, ...]) -> SideResult:
    return SideResult(
        model=model,
        judge_mean=sum(judged) / len(judged),
        reward_mean=None,
        length_mean=12.5,
        distinct_1=0.5,
        distinct_2=0.75,
        samples=tuple(Sample(p, r, j) for p, r, j in zip(PROMPTS, responses, judged, strict=True)),
    )


def eval_result() -> EvalResult:
    """Two wins and a loss over three prompts; the policy's first answer carries a script."""
    return EvalResult(
        prompts=3,
        comparisons=3,
        wins=2,
        ties=0,
        losses=1,
        win_rate=2 / 3,
        wilson=(0.2, 0.94),
        bootstrap=Estimate(2 / 3, 0.33, 1.0, 0.95, 1000),
        policy=_side("runs/ppo", (f"It is 4. {SCRIPT}", "7", "Lyon"), (1.0, 1.0, 0.0)),
        baseline=_side("runs/sft", ("It is 5.", "8", "Paris"), (0.0, 0.0, 1.0)),
        reward_agreement=math.nan,
        decisive=3,
    )


@functools.cache
def quality_summary() -> dict[str, Any]:
    """`QualityAnalysis.summary()` of the planted panel of simulated annotators."""
    items, gold = synthetic_items(80, seed=3)
    table = LabelTable.from_annotations(annotate(items, PLANTED, gold, seed=3))
    return analyze(table, resamples=20).summary()


CHECKS = {"the policy beats SFT": True, f"nothing odd {SCRIPT}": False}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))


def write_run_dir(root: Path) -> Path:
    """Everything `rlhf report` reads, under `root`; returns `root`."""
    summary = {"title": f"Demo run {SCRIPT}", "figures": FIGURES, "checks": CHECKS,
               "timings": TIMINGS, "rounds": ROUNDS, "ignored": [1, 2]}  # fmt: skip
    write_json(root / "summary.json", summary)
    write_jsonl(root / "ppo" / "metrics.jsonl", online_rows())
    write_json(root / "ppo" / "config.json", {"kl_coef": 0.05, "policy": "runs/sft <b>"})
    write_jsonl(root / "sft" / "metrics.jsonl", sft_rows())
    write_json(root / "eval" / "ppo.eval.json", eval_result().as_json("wilson", 0.95))
    write_json(root / "quality.json", quality_summary())
    return root
