"""The settings every online algorithm shares: the KL leash, sampling, the update's shape.

`OnlineConfig` is the base of `PPOConfig`, `GRPOConfig` and `RLOOConfig`; each adds its own fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rlhf.data.formats import FormatName
from rlhf.models.lora import LoraConfig
from rlhf.ops.kl import AdaptiveKLController, FixedKLController, KLEstimator
from rlhf.rewards.sources import RewardConfig
from rlhf.rollout.sampling import SamplingConfig
from rlhf.train.config import ConfigError, LoopConfig, OptimizerConfig

__all__ = ["KLConfig", "KLPlacement", "OnlineConfig"]

KLPlacement = Literal["reward", "loss"]
BackendName = Literal["torch", "vllm"]


@dataclass(frozen=True, kw_only=True)
class KLConfig:
    """The leash to the reference policy."""

    coef: float = 0.05
    """beta: weight of KL(pi || pi_ref) against the reward."""
    target: float | None = None
    """Adapt beta to keep the KL per response near this many nats (Ziegler et al. 2019); fixed
    beta when not given."""
    horizon: int = 10_000
    """Responses over which the adaptive controller may change beta by up to a factor e^0.2."""
    estimator: KLEstimator = "k1"
    """Per-token estimator: k1 = log(pi/pi_ref) (unbiased, the default in the reward), k2, or k3
    (always >= 0; GRPO's choice in the loss)."""
    placement: KLPlacement = "reward"
    """Where the penalty goes: into the reward (PPO, RLOO; optimum pi_ref exp(r/beta)/Z) or into
    the loss (GRPO's paper)."""

    def __post_init__(self) -> None:
        if self.coef < 0 or (self.target is not None and self.target <= 0) or self.horizon < 1:
            raise ConfigError("kl.coef must be >= 0, kl.target > 0 and kl.horizon >= 1")

    def controller(self) -> FixedKLController | AdaptiveKLController:
        if self.target is None:
            return FixedKLController(self.coef)
        return AdaptiveKLController(self.coef, self.target, self.horizon)


@dataclass(frozen=True, kw_only=True)
class OnlineConfig:
    """What every online algorithm shares; PPO, GRPO and RLOO add their own fields."""

    data: str
    """Prompts: FILE[,FILE] of any records (pairs, demonstrations, prompt records, ...)."""
    output: Path
    """Directory for the policy, checkpoints, metrics and the resolved config."""
    model: str
    """The policy to start from: a local model directory with its tokenizer (usually SFT's)."""
    ref_model: str | None = None
    """The reference policy; the starting policy itself when not given."""
    format: FormatName | None = None
    """The data's format; detected from each file's first record when not given."""
    reward: RewardConfig = field(default_factory=RewardConfig)
    """Where rewards come from (a reward model, a Python function, or an HTTP scorer)."""
    gold: RewardConfig = field(default_factory=RewardConfig)
    """Optional gold scorer, never optimized: logged beside the reward as `gold/score` (and
    `eval/gold`), for the over-optimization curve of Gao et al. 2022 (--gold.function ...)."""
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(max_new_tokens=48))
    """How responses are sampled."""
    backend: BackendName = "torch"
    """Who generates: the live model (`torch`), or a vLLM engine on a GPU (`vllm`, needs
    rlhf[vllm]; weights are copied into it after every step)."""
    max_prompt_length: int = 128
    """Prompts longer than this many tokens lose tokens from the left."""
    generation_batch_size: int = 64
    """Responses generated together in one batch (per process)."""
    kl: KLConfig = field(default_factory=KLConfig)
    """The KL leash to the reference."""
    score_clip: float = 10.0
    """Clip scores to [-c, c] before use; 0 turns clipping off."""
    missing_eos_penalty: float = 0.0
    """Subtracted from the score of a response cut at `sampling.max_new_tokens`."""
    ppo_epochs: int = 1
    """Passes of updates over each step's responses."""
    mini_batches: int = 1
    """Optimizer updates per pass: the step's responses are split into this many minibatches."""
    clip_eps: float = 0.2
    """PPO's ratio clip epsilon."""
    dual_clip: float | None = None
    """Dual-clip bound c > 1 on the ratio for negative advantages (Ye et al. 2020); off if unset."""
    entropy_coef: float = 0.0
    """Weight of an entropy bonus in the loss."""
    target_kl: float | None = None
    """Stop a step's update passes early once the approximate KL to the sampling policy exceeds
    this (per token)."""
    eval_fraction: float = 0.1
    """Share of prompts held out for evaluation (reward and KL of fresh samples)."""
    max_eval_prompts: int = 64
    """At most this many held-out prompts are evaluated."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    """Low-rank adapters; the reference is then the base model with adapters off."""
    optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-6))
    """The optimizer (one for the policy and its critic)."""
    loop: LoopConfig = field(
        default_factory=lambda: LoopConfig(
            batch_size=16,
            micro_batch_size=8,
            eval_every=10,
            save_every=10,
            keep_best=False,
            best_metric="eval/reward",
            best_mode="max",
        )
    )
    """`batch_size` is prompts per step over all processes; `max_steps` counts steps (rollouts).
    keep_best is off by default: the proxy reward is what a policy learns to game."""

    def __post_init__(self) -> None:
        if self.ppo_epochs < 1 or self.mini_batches < 1:
            raise ConfigError("ppo_epochs and mini_batches must be >= 1")
        if self.clip_eps <= 0 or (self.dual_clip is not None and self.dual_clip <= 1):
            raise ConfigError("clip_eps must be > 0 and dual_clip > 1")
        if not self.reward.given:
            raise ConfigError(
                "no reward source: give --reward.model DIR, --reward.function module:name or "
                "--reward.url URL"
            )
        if self.max_prompt_length < 1 or self.generation_batch_size < 1:
            raise ConfigError("max_prompt_length and generation_batch_size must be >= 1")
