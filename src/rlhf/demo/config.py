"""`DemoConfig`: the size of every stage of `rlhf demo`, with defaults that finish in minutes on a
2-core CPU."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rlhf.errors import UserError

__all__ = ["DemoConfig"]

MIN_PAIRS = 60
"""Fewest pairs per round: enough that a round's training share fills a batch of 32 pairs."""


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """`rlhf demo`: the whole RLHF loop on the built-in task, from a fresh clone, on a CPU."""

    output: Path = Path("runs/demo")
    """Directory for everything the demo makes: data, store, models, evaluations, report.html."""
    prompts: int = 600
    """Training prompts (each with one demonstration for SFT)."""
    eval_prompts: int = 200
    """Held-out prompts every policy is judged on."""
    rounds: int = 2
    """Rounds of collect -> check -> reward model -> optimize (iterated RLHF)."""
    pairs_per_round: int = 400
    """Response pairs the simulated annotators judge each round."""
    overlap: int = 4
    """Annotators per pair (of the panel's six; four give each annotator enough items shared
    with the others for the spammer and bias tests to have power)."""
    held_out: float = 0.2
    """Share of each round's pairs kept out of training: the reward model and the majority vote
    are scored against the gold preference on them."""
    sft_steps: int = 150
    """SFT steps of the tiny policy trained from scratch."""
    ppo_steps: int = 40
    """PPO steps per round."""
    kl_coef: float = 0.1
    """beta of PPO's KL leash to the SFT policy."""
    uncertainty_penalty: float = 1.0
    """PPO optimizes the ensemble's mean - k * std (pessimism where the reward models disagree)."""
    ensemble: int = 3
    """Reward models in the ensemble."""
    best_of: int = 4
    """n of the best-of-n baseline (the SFT policy's best of n by the reward model)."""
    max_new_tokens: int = 32
    """Longest sampled response in tokens."""
    threads: int = 1
    """Torch threads. The demo's models are tiny: one thread per op is as fast as two on an idle
    machine, and on a shared one a second thread waits for a core at every op."""
    seed: int = 0
    """Seeds data, models, annotators and sampling: a run is reproducible."""

    def __post_init__(self) -> None:
        if self.prompts < 100 or self.eval_prompts < 20 or self.pairs_per_round < MIN_PAIRS:
            raise UserError(
                f"prompts must be at least 100, eval_prompts 20 and pairs_per_round {MIN_PAIRS} "
                f"(got {self.prompts}, {self.eval_prompts}, {self.pairs_per_round})"
            )
        if self.pairs_per_round > self.prompts:
            raise UserError(
                f"pairs_per_round ({self.pairs_per_round}) cannot exceed prompts ({self.prompts})"
            )
        if self.rounds < 1 or self.ensemble < 2 or self.best_of < 2 or self.overlap < 2:
            raise UserError(
                "rounds must be >= 1; ensemble, best_of and overlap >= 2 (an ensemble needs two "
                "members, agreement two annotators)"
            )
        if not 0.05 <= self.held_out <= 0.5:
            raise UserError(f"held_out must lie in [0.05, 0.5], got {self.held_out}")
        if min(self.sft_steps, self.ppo_steps, self.max_new_tokens, self.threads) < 1:
            raise UserError("sft_steps, ppo_steps, max_new_tokens and threads must be >= 1")
        if self.kl_coef < 0:
            raise UserError(f"kl_coef must be >= 0, got {self.kl_coef}")
