"""Setting up an online run: the algorithm's interface, and everything a run holds.

`start_run` loads the tokenizer, the prompts (split into training and held-out ones), the policy
(with LoRA adapters if asked), the frozen reference (none with LoRA: the base model with its
adapters off), the critic the algorithm wants, the reward and cost sources and the generation
backend, and wraps the actor-critic for data parallelism. `rlhf.train.online` runs the steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from rlhf.data.prompts import PromptExample, load_prompts
from rlhf.data.split import split_by_prompt
from rlhf.data.tokenize import padding_id
from rlhf.models import load_causal_lm, load_tokenizer
from rlhf.models.fused import fuse_activations
from rlhf.models.loading import load_encoder
from rlhf.models.lora import add_adapters
from rlhf.models.value import ActorCritic, ActorOutput, CriticKind
from rlhf.ops.kl import AdaptiveKLController, FixedKLController
from rlhf.rewards.sources import Scorer, build_scorer
from rlhf.rollout.backends import GenerationBackend, TorchBackend, VLLMBackend
from rlhf.train.batches import BatchPlan
from rlhf.train.config import ConfigError
from rlhf.train.devices import seed_everything
from rlhf.train.distributed import Distributed
from rlhf.train.experience import Experience, Sources
from rlhf.train.online_config import OnlineConfig
from rlhf.train.optimizer import build_optimizer

__all__ = ["OnlineAlgorithm", "OnlineRun", "start_run"]


class OnlineAlgorithm(Protocol):
    """What PPO, GRPO and RLOO each define; the loop does the rest."""

    @property
    def critic(self) -> CriticKind:
        """Whether (and how) the algorithm learns a value function."""
        ...

    @property
    def cost_critic(self) -> bool:
        """Whether the critic also values costs (safe RLHF)."""
        ...

    @property
    def group_size(self) -> int:
        """Responses sampled per prompt."""
        ...

    @property
    def critic_model(self) -> str | None:
        """The separate critic's starting backbone (None: the policy's)."""
        ...

    def cost_scorer(self) -> Scorer | None:
        """The cost source of safe RLHF, if any."""
        ...

    def estimate(
        self, experience: Experience, *, kl_coef: float, dist: Distributed
    ) -> tuple[Experience, dict[str, float]]:
        """`experience` with advantages (and value targets) filled in, and metrics."""
        ...

    def critic_loss(self, output: ActorOutput, batch: Experience) -> Tensor | None:
        """The critic's loss of a micro-batch summed over its response tokens (None: no critic)."""
        ...

    def after_step(self, experience: Experience, dist: Distributed) -> dict[str, float]:
        """Update the algorithm's own state after a step (a Lagrange multiplier); metrics."""
        ...

    def state_dict(self) -> dict[str, float]: ...

    def load_state_dict(self, state: Mapping[str, float]) -> None: ...


@dataclass
class OnlineRun:
    """Everything one online run holds, built once by `train_online`."""

    config: OnlineConfig
    algorithm: OnlineAlgorithm
    sources: Sources
    trained: nn.Module
    """The actor-critic as it runs forward: wrapped for data parallelism when there are processes."""
    optimizer: torch.optim.Optimizer
    kl: FixedKLController | AdaptiveKLController
    train_prompts: list[PromptExample]
    eval_prompts: list[PromptExample]
    plan: BatchPlan
    dist: Distributed
    device: torch.device

    @property
    def total_steps(self) -> int:
        loop = self.config.loop
        return loop.max_steps or loop.epochs * self.plan.steps_per_epoch


def start_run(config: OnlineConfig, algorithm: OnlineAlgorithm) -> OnlineRun:
    """Load and place everything the run needs; fail early on settings that cannot work."""
    dist = Distributed.from_env()
    device = dist.device(config.loop.device)
    seed_everything(config.loop.seed + dist.rank)
    if config.loop.batch_size % dist.world_size:
        raise ConfigError(
            f"loop.batch_size={config.loop.batch_size} prompts do not split evenly over "
            f"{dist.world_size} processes; choose a multiple of {dist.world_size}"
        )
    tokenizer = load_tokenizer(config.model)
    prompts = load_prompts(
        config.data, config.format, tokenizer, max_prompt_length=config.max_prompt_length
    )
    train_prompts, eval_prompts = split_by_prompt(
        prompts, config.eval_fraction, seed=config.loop.seed
    )
    actor, reference = _models(config, algorithm, device)
    policy = actor.policy
    trained: nn.Module = actor
    if dist.enabled:
        trained = DistributedDataParallel(
            actor, device_ids=[device.index] if device.type == "cuda" else None
        )
    sources = Sources(
        policy=policy,
        backend=_backend(config, policy, tokenizer),
        actor=actor,
        reference=reference,
        tokenizer=tokenizer,
        scorer=build_scorer(config.reward, device=str(device)),
        cost_scorer=algorithm.cost_scorer(),
        gold_scorer=build_scorer(config.gold, device=str(device), what="gold")
        if config.gold.given
        else None,
    )
    plan = BatchPlan(
        examples=len(train_prompts),
        batch_size=config.loop.batch_size,
        micro_batch_size=config.loop.batch_size // dist.world_size,
        seed=config.loop.seed,
        rank=dist.rank,
        world_size=dist.world_size,
    )
    config.output.mkdir(parents=True, exist_ok=True)
    return OnlineRun(
        config=config,
        algorithm=algorithm,
        sources=sources,
        trained=trained,
        optimizer=build_optimizer(actor, config.optim),
        kl=config.kl.controller(),
        train_prompts=train_prompts,
        eval_prompts=eval_prompts[: config.max_eval_prompts],
        plan=plan,
        dist=dist,
        device=device,
    )


def _models(
    config: OnlineConfig, algorithm: OnlineAlgorithm, device: torch.device
) -> tuple[ActorCritic, nn.Module | None]:
    """The actor-critic to train, and the frozen reference (None: the LoRA base, adapters off)."""
    policy = add_adapters(load_causal_lm(config.model), config.lora)
    reference = None
    if config.ref_model or not config.lora.enabled:
        reference = load_causal_lm(config.ref_model or config.model, device=device)
        reference.requires_grad_(False)
    critic_backbone = None
    if algorithm.critic == "separate":
        critic_backbone = load_encoder(algorithm.critic_model or config.model)
    for model in (policy, reference, critic_backbone):  # same function, one kernel: models.fused
        if model is not None:
            fuse_activations(model)
    actor = ActorCritic(
        policy,
        critic=algorithm.critic,
        critic_backbone=critic_backbone,
        cost_critic=algorithm.cost_critic,
        temperature=config.sampling.logprob_temperature,
    ).to(device)
    actor.eval()  # dropout off: the sampling policy and the trained one must be the same function
    return actor, reference


def _backend(config: OnlineConfig, policy: nn.Module, tokenizer: Any) -> GenerationBackend:
    pad_id = padding_id(tokenizer)
    ids = {"pad_token_id": pad_id, "eos_token_id": tokenizer.eos_token_id, "tokenizer": tokenizer}
    if config.backend == "vllm":
        backend: GenerationBackend = VLLMBackend(config.model, **ids)
        backend.sync_weights(policy)
        return backend
    return TorchBackend(policy, **ids)
