"""The demo's summary: every headline figure with the file and method it came from, the checks
the demo must pass, and one row per round (what `summary.json` holds and `rlhf report` shows)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlhf.demo.config import DemoConfig
from rlhf.demo.panel import PANEL, SPAMMER
from rlhf.demo.rounds import CONSENSUS, RoundResult
from rlhf.quality.bootstrap import finite_or_none

__all__ = ["summarize_demo"]


def _figure(value: float | int | None, source: str) -> dict[str, Any]:
    """A figure and where it came from; nan (e.g. no held-out pair with a gold preference) is
    null."""
    return {"value": None if value is None else finite_or_none(value), "source": source}


def _figures(
    config: DemoConfig, root: Path, results: Sequence[RoundResult], best_of_n: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    last = results[-1]
    ppo, dpo = last.ppo_eval, last.dpo_eval
    where = f"round-{last.number}"
    judged = (f"on {ppo['prompts']} held-out prompts, one sample each with the same seed, judged "
              f"by the hidden gold scorer (rlhf.demo.task:gold); ties count half")  # fmt: skip
    interval = f"{ppo['confidence']:.0%} {ppo['interval']} interval"
    held_out = (f"{last.rm_gold.pairs} held-out pairs with a gold preference ({config.held_out:.0%}"
                f" of each round's items, never trained on)")  # fmt: skip
    return {
        "gold_win_rate": _figure(ppo["win_rate"], f"{where}/ppo.eval.json: the final policy "
                                 f"(PPO, round {last.number}) against SFT {judged}"),
        "gold_win_rate_ci_low": _figure(ppo["win_rate_ci_low"], f"{where}/ppo.eval.json: {interval}"),
        "gold_win_rate_ci_high": _figure(ppo["win_rate_ci_high"], f"{where}/ppo.eval.json: {interval}"),
        "dpo_gold_win_rate": _figure(dpo["win_rate"], f"{where}/dpo.eval.json: DPO from SFT on every "
                                     f"round's consensus labels, against SFT {judged}"),
        "best_of_n_gold_win_rate": _figure(best_of_n["win_rate"], f"best-of-n.eval.json: SFT's best "
                                           f"of {config.best_of} by the final reward model, against "
                                           f"SFT {judged}"),
        "gold_score_final": _figure(ppo["policy"]["judge_mean"], f"{where}/ppo.eval.json: mean gold "
                                    "score of the final policy's held-out responses"),
        "gold_score_sft": _figure(ppo["baseline"]["judge_mean"], f"{where}/ppo.eval.json: mean gold "
                                  "score of SFT's held-out responses"),
        "kl": _figure(last.kl, f"{where}/ppo/metrics.jsonl, eval/kl: KL(pi || pi_SFT) of fresh "
                      "samples on PPO's held-out prompts, nats per response (k1 estimate)"),
        "rm_gold_agreement": _figure(last.rm_gold.rate, f"{where}/reward-model: the final "
                                     f"{config.ensemble}-model ensemble's ordering of {held_out}, "
                                     "against the gold preference"),
        "majority_gold_agreement": _figure(last.majority_gold.rate, f"the raw majority vote of "
                                           f"{config.overlap} annotators per item (spammer "
                                           f"included) on the same {held_out}; a split vote "
                                           "counts half"),
        "rm_human_agreement": _figure(last.rm_human.rate, f"{where}/reward-model against the "
                                      f"held-out {CONSENSUS} consensus labels of "
                                      f"{last.rm_human.pairs} pairs (its alignment score)"),
        "krippendorff_alpha": _figure(last.quality["krippendorff_alpha"], f"{where}/quality.json: "
                                      f"nominal alpha over all {len(PANEL)} annotators"),
    }  # fmt: skip


def _checks(results: Sequence[RoundResult]) -> dict[str, bool]:
    last = results[-1]
    return {
        "the final policy beats SFT on gold win rate, interval above 50%": (
            last.ppo_eval["win_rate_ci_low"] > 0.5
        ),
        "the reward model agrees with gold more often than the raw majority vote": (
            last.rm_gold.rate > last.majority_gold.rate
        ),
        "the spammer is found in every round": all(
            "spammer" in r.flagged.get(SPAMMER, []) for r in results
        ),
    }


def summarize_demo(
    config: DemoConfig,
    root: Path,
    results: Sequence[RoundResult],
    best_of_n: dict[str, Any],
    *,
    run: int,
    timings: dict[str, float],
    started: float,
) -> dict[str, Any]:
    """The summary: flat headline keys first (the `--json` contract), then figures with sources,
    checks, rounds and timings."""
    figures = _figures(config, root, results, best_of_n)
    flat = {name: figure["value"] for name, figure in figures.items()}
    return {
        **flat,
        "seconds": round(time.perf_counter() - started, 1),
        "report": str(root / "report.html"),
        "title": f"rlhf demo: {config.rounds} rounds of RLHF on the built-in task (run {run})",
        "figures": figures,
        "checks": _checks(results),
        "rounds": [r.row() for r in results],
        "timings": dict(timings),
        "output": str(root),
    }
