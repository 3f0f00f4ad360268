"""The demo's training recipes: each stage is the library's own typed config, sized for the tiny
task (a 2-layer, 64-wide GPT-2 trained from scratch) and a 2-core CPU.

Learning rates are the large ones small models trained briefly want; every run starts fresh
(`resume=False`: a rerun of the demo retrains, it never half-resumes a previous run's models) and
saves only its final model (`save_every=0`, `keep_best=False`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rlhf.demo.config import DemoConfig
from rlhf.eval.compare import EvalConfig
from rlhf.rewards.sources import RewardConfig
from rlhf.rollout.sampling import SamplingConfig
from rlhf.train.config import LoopConfig, OptimizerConfig
from rlhf.train.dpo import DPOConfig
from rlhf.train.online_config import KLConfig
from rlhf.train.ppo import PPOConfig
from rlhf.train.reward import RewardTrainConfig
from rlhf.train.sft import SFTConfig, TinyPolicyConfig

__all__ = ["GOLD", "dpo", "evaluation", "ppo", "reward_ensemble", "sampling", "sft"]

GOLD = RewardConfig(function="rlhf.demo.task:gold")
"""The hidden gold preference as a scorer: the judge of evaluations, PPO's gold monitor."""
BATCH = 32
"""Examples per optimizer step for SFT, the reward models and DPO."""
PPO_BATCH = 16
"""Prompts per PPO step."""


def _loop(
    config: DemoConfig, *, batch: int = BATCH, epochs: int = 1, max_steps: int | None = None
) -> LoopConfig:
    return LoopConfig(
        batch_size=batch, micro_batch_size=batch, epochs=epochs, max_steps=max_steps,
        eval_every=0, save_every=0, keep_best=False, resume=False, seed=config.seed,
    )  # fmt: skip


def sampling(config: DemoConfig) -> SamplingConfig:
    return SamplingConfig(max_new_tokens=config.max_new_tokens)


def sft(config: DemoConfig, data: Path, output: Path) -> SFTConfig:
    """A tiny GPT-2 and its BPE tokenizer trained from scratch on the demonstrations."""
    return SFTConfig(
        data=str(data), output=output, model="tiny", tiny=TinyPolicyConfig(hidden_size=64),
        optim=OptimizerConfig(lr=3e-3), loop=_loop(config, max_steps=config.sft_steps),
    )  # fmt: skip


def reward_ensemble(
    config: DemoConfig, data: Sequence[Path], sft_model: Path, output: Path
) -> RewardTrainConfig:
    """K reward models fine-tuned from the SFT policy (as InstructGPT's were), each on its own
    bootstrap resample of the consensus labels, soft labels from the label confidences."""
    return RewardTrainConfig(
        data=",".join(str(d) for d in data), output=output, kind="transformer",
        backbone=str(sft_model), ensemble=config.ensemble, eval_fraction=0.1,
        split_seed=config.seed, optim=OptimizerConfig(lr=3e-3), loop=_loop(config, epochs=4),
    )  # fmt: skip


def ppo(
    config: DemoConfig, prompts: Path, start: Path, sft_model: Path, reward: Path, output: Path
) -> PPOConfig:
    """PPO from `start` against the ensemble's pessimistic reward, leashed to the SFT policy;
    the gold score is logged beside the reward, never optimized."""
    return PPOConfig(
        data=str(prompts), output=output, model=str(start), ref_model=str(sft_model),
        reward=RewardConfig(model=str(reward), uncertainty_penalty=config.uncertainty_penalty),
        gold=GOLD, sampling=sampling(config), kl=KLConfig(coef=config.kl_coef),
        optim=OptimizerConfig(lr=3e-4, schedule="constant"),
        loop=_loop(config, batch=PPO_BATCH, max_steps=config.ppo_steps),
    )  # fmt: skip


def dpo(config: DemoConfig, data: Sequence[Path], sft_model: Path, output: Path) -> DPOConfig:
    """DPO from the SFT policy on the same consensus labels the reward models learn from."""
    return DPOConfig(
        data=",".join(str(d) for d in data), output=output, model=str(sft_model), beta=0.1,
        optim=OptimizerConfig(lr=2e-4), loop=_loop(config, epochs=3),
    )  # fmt: skip


def evaluation(
    config: DemoConfig,
    prompts: Path,
    policy: Path,
    baseline: Path,
    reward: Path,
    output: Path,
    *,
    best_of: int = 1,
) -> EvalConfig:
    """`policy` (or its best of n by `reward`) against `baseline`, judged by the gold scorer."""
    return EvalConfig(
        data=str(prompts), policy=str(policy), baseline=str(baseline), judge=GOLD,
        reward=RewardConfig(model=str(reward)), best_of=best_of, sampling=sampling(config),
        output=output, seed=config.seed,
    )  # fmt: skip
