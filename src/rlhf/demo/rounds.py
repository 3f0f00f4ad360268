"""One round of iterated RLHF in the demo: collect, check the humans, learn, optimize, evaluate.

Every round adds its consensus labels to what the reward models and DPO learn from, and its
held-out items to where the reward model and the raw majority vote are checked against gold.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlhf.data import write_records
from rlhf.data.files import atomic_write_text
from rlhf.data.records import PreferencePair
from rlhf.demo import recipes
from rlhf.demo.config import DemoConfig
from rlhf.demo.labels import (
    Agreement,
    campaign_annotations,
    consensus,
    gold_agreement,
    sample_items,
    split_items,
)
from rlhf.demo.panel import label_campaign
from rlhf.demo.task import gold
from rlhf.eval.compare import evaluate, summarize
from rlhf.models.reward_loader import load_reward_model
from rlhf.quality.analysis import analyze
from rlhf.quality.bootstrap import finite_or_none
from rlhf.quality.labels import LabelTable
from rlhf.quality.report import render
from rlhf.rollout.policy import load_policy
from rlhf.store import Store
from rlhf.train.config import config_to_json
from rlhf.train.dpo import train_dpo
from rlhf.train.metrics import read_metrics
from rlhf.train.ppo import train_ppo
from rlhf.train.reward import train_reward

__all__ = ["History", "Round", "RoundResult", "run_round"]

Say = Callable[[str], None]
Phase = Callable[[str], AbstractContextManager[None]]
"""phase(name): a context that times what runs in it under `name`."""
CONSENSUS = "dawid-skene"
"""How a round's answers become training labels: annotators weighted by their estimated
confusion matrices, so the spammer's and the biased annotator's votes count for little."""


@dataclass(frozen=True)
class Round:
    number: int
    campaign: str
    """The round's campaign in the store (`run-N/round-R`)."""
    directory: Path
    policy: Path
    """The policy whose samples are judged and that PPO continues from."""
    sft: Path
    prompts: list[str]
    """The training prompts (texts), of which each round judges a fresh sample."""
    prompts_file: Path
    """The same prompts as a data file (PPO's)."""
    heldout_file: Path
    """The held-out prompts every policy is evaluated on."""


@dataclass
class History:
    """What the rounds so far have gathered."""

    labels: list[Path] = field(default_factory=list)
    """Each round's training labels (consensus pairs)."""
    held_out: list[PreferencePair] = field(default_factory=list)
    """Held-out consensus pairs of every round."""
    majority: list[PreferencePair] = field(default_factory=list)
    """The raw majority vote on the same held-out items."""


@dataclass(frozen=True)
class RoundResult:
    number: int
    items: int
    answers: int
    quality: dict[str, Any]
    """The round's `QualityAnalysis.summary()`."""
    reward_model: Path
    ppo: Path
    dpo: Path
    rm_gold: Agreement
    majority_gold: Agreement
    rm_human: Agreement
    """The reward model's agreement with the held-out consensus labels (its "alignment score")."""
    ppo_eval: dict[str, Any]
    dpo_eval: dict[str, Any]
    kl: float
    """PPO's KL(pi || pi_SFT) per response on its held-out prompts, nats."""

    @property
    def flagged(self) -> dict[str, list[str]]:
        """Annotators with findings, and what was found."""
        annotators = self.quality["annotators"].items()
        return {name: r["flags"] for name, r in annotators if r["flags"]}

    def row(self) -> dict[str, Any]:
        """The round as one line of the report's table."""
        return {
            "round": self.number,
            "items": self.items,
            "answers": self.answers,
            "krippendorff_alpha": self.quality["krippendorff_alpha"],
            "flagged": "; ".join(f"{n}: {', '.join(f)}" for n, f in self.flagged.items()),
            "majority_gold_agreement": finite_or_none(self.majority_gold.rate),
            "rm_gold_agreement": finite_or_none(self.rm_gold.rate),
            "rm_human_agreement": finite_or_none(self.rm_human.rate),
            "held_out_pairs": self.rm_gold.pairs,
            "ppo_gold_win_rate": self.ppo_eval["win_rate"],
            "dpo_gold_win_rate": self.dpo_eval["win_rate"],
            "ppo_kl": finite_or_none(self.kl),
        }


def run_round(
    config: DemoConfig, store: Store, rnd: Round, history: History, phase: Phase, say: Say
) -> RoundResult:
    """Collect, check, learn, optimize and evaluate, each a timed phase."""
    with phase(f"round {rnd.number}: collect"):
        items, answers = _collect(config, store, rnd, say)
    with phase(f"round {rnd.number}: check the humans"):
        quality = _check_humans(config, store, rnd, say)
        _split_labels(config, store, rnd, history, say)
    with phase(f"round {rnd.number}: reward model"):
        reward_model = _learn(config, rnd, history, say)
        rm_gold, rm_human = _reward_agreement(reward_model, history)
        majority_gold = gold_agreement(history.majority)
        say(f"  gold agreement on {rm_gold.pairs} held-out pairs: reward model {rm_gold.rate:.3f},"
            f" raw majority vote {majority_gold.rate:.3f}; with the held-out consensus labels "
            f"{rm_human.rate:.3f}")  # fmt: skip
    with phase(f"round {rnd.number}: PPO"):
        ppo = rnd.directory / "ppo"
        ppo_settings = recipes.ppo(config, rnd.prompts_file, rnd.policy, rnd.sft, reward_model, ppo)
        train_ppo(ppo_settings, config_to_json(ppo_settings))
        kl = read_metrics(ppo)[-1]["eval/kl"]
    with phase(f"round {rnd.number}: DPO"):
        dpo = rnd.directory / "dpo"
        dpo_settings = recipes.dpo(config, history.labels, rnd.sft, dpo)
        train_dpo(dpo_settings, config_to_json(dpo_settings))
    with phase(f"round {rnd.number}: evaluate"):
        evals = {name: _evaluate(config, rnd, policy, reward_model, name, say)
                 for name, policy in (("ppo", ppo), ("dpo", dpo))}  # fmt: skip
    return RoundResult(
        number=rnd.number, items=items, answers=answers, quality=quality,
        reward_model=reward_model, ppo=ppo, dpo=dpo, rm_gold=rm_gold,
        majority_gold=majority_gold, rm_human=rm_human, ppo_eval=evals["ppo"],
        dpo_eval=evals["dpo"], kl=kl,
    )  # fmt: skip


def _collect(config: DemoConfig, store: Store, rnd: Round, say: Say) -> tuple[int, int]:
    """Sample the round's pairs and let the panel judge them in a campaign; (items, answers)."""
    rng = random.Random(config.seed * 1000 + rnd.number)
    prompts = rng.sample(rnd.prompts, config.pairs_per_round)
    current = load_policy(str(rnd.policy), device="cpu")
    sft = current if rnd.policy == rnd.sft else load_policy(str(rnd.sft), device="cpu")
    items = sample_items(rnd.campaign, prompts, current, sft, recipes.sampling(config),
                         seed=config.seed * 1000 + rnd.number)  # fmt: skip
    answers = label_campaign(store, rnd.campaign, items, lambda p, r: gold([p], [r])[0],
                             overlap=config.overlap, day=rnd.number, seed=config.seed)  # fmt: skip
    gold_questions = sum(item.gold is not None for item in items)
    say(f"  campaign {rnd.campaign}: {len(items)} pairs ({rnd.policy.name} vs {rnd.sft.name}, "
        f"{gold_questions} gold questions), {answers} answers by 6 annotators")  # fmt: skip
    return len(items), answers


def _check_humans(config: DemoConfig, store: Store, rnd: Round, say: Say) -> dict[str, Any]:
    """Agreement and per-annotator diagnostics of the round: quality.json and quality.html."""
    table = LabelTable.from_annotations(campaign_annotations(store, rnd.campaign))
    analysis = analyze(table, resamples=200, seed=config.seed)
    quality = analysis.summary()
    atomic_write_text(rnd.directory / "quality.json", json.dumps(quality, indent=2) + "\n")
    atomic_write_text(rnd.directory / "quality.html",
                      render(analysis, title=f"Annotation quality: {rnd.campaign}"))  # fmt: skip
    flagged = {n: r["flags"] for n, r in quality["annotators"].items() if r["flags"]}
    say(f"  Krippendorff's alpha {quality['krippendorff_alpha']:.3f}, Fleiss' kappa "
        f"{quality['fleiss_kappa']:.3f}; flagged: "
        + ("; ".join(f"{n} ({', '.join(f)})" for n, f in flagged.items()) or "nobody"))  # fmt: skip
    return quality


def _split_labels(config: DemoConfig, store: Store, rnd: Round, history: History, say: Say) -> None:
    """Consensus labels: a held-out share kept for checking, the rest written for training."""
    labels = consensus(store, rnd.campaign, CONSENSUS)
    training, held_out = split_items(labels, config.held_out, seed=config.seed + rnd.number)
    kept = {p.id for p in held_out}
    majority = [p for p in consensus(store, rnd.campaign, "majority") if p.id in kept]
    path = rnd.directory / "labels.jsonl"
    write_records(training, path)
    history.labels.append(path)
    history.held_out.extend(held_out)
    history.majority.extend(majority)
    say(f"  {len(labels)} consensus pairs ({CONSENSUS}): {len(training)} to train on, "
        f"{len(held_out)} held out")  # fmt: skip


def _learn(config: DemoConfig, rnd: Round, history: History, say: Say) -> Path:
    output = rnd.directory / "reward-model"
    settings = recipes.reward_ensemble(config, history.labels, rnd.sft, output)
    train_reward(settings, say=lambda line: say(f"  {line}"), resolved=config_to_json(settings))
    return output


def _reward_agreement(reward_model: Path, history: History) -> tuple[Agreement, Agreement]:
    """The ensemble's agreement with gold, and with the consensus labels, on held-out pairs."""
    model = load_reward_model(reward_model)

    def margins(pairs: Any) -> np.ndarray:
        prompts = [p.prompt for p in pairs]
        chosen = model.score(prompts, [p.chosen for p in pairs])
        return (chosen - model.score(prompts, [p.rejected for p in pairs])).numpy()

    decided = [p for p in history.held_out if not p.tie]
    human = margins(decided) if decided else np.zeros(0)
    return (
        gold_agreement(history.held_out, margins),
        Agreement(float(np.mean(np.where(human == 0, 0.5, human > 0))), len(decided)),
    )


def _evaluate(
    config: DemoConfig, rnd: Round, policy: Path, reward_model: Path, name: str, say: Say
) -> dict[str, Any]:
    settings = recipes.evaluation(config, rnd.heldout_file, policy, rnd.sft, reward_model,
                                  rnd.directory / f"{name}.eval.json")  # fmt: skip
    summary = summarize(evaluate(settings), settings)
    say(f"  {name} vs SFT on {summary['prompts']} held-out prompts: gold win rate "
        f"{summary['win_rate']:.3f} [{summary['win_rate_ci_low']:.3f}, "
        f"{summary['win_rate_ci_high']:.3f}], gold score {summary['policy']['judge_mean']:.2f} "
        f"vs {summary['baseline']['judge_mean']:.2f}")  # fmt: skip
    return summary
