"""The update phase of an online step: epochs of minibatch updates with PPO's clipped surrogate.

Each of `ppo_epochs` passes shuffles the step's responses and splits them into `mini_batches`
minibatches; each minibatch is one optimizer update, accumulated over micro-batches. The loss of a
minibatch is a sum over its response tokens divided by their number over all processes (the
token-level mean of DAPO and Dr. GRPO, which weighs every token alike instead of every response):

    L = sum_t [ ppo_policy_loss_t + beta k_t (KL in the loss) - c_H H_t ] / tokens
        + critic loss (the algorithm's, e.g. vf_coef * value loss) / tokens

With `target_kl`, the passes stop early once the approximate KL between the policy and the one
that sampled the responses exceeds it (per token, over the pass's updates and all processes).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rlhf.models.value import ActorOutput
from rlhf.ops.kl import KLEstimator, kl_penalty
from rlhf.ops.masked import masked_sum
from rlhf.ops.policy_losses import approx_kl, clip_fraction, ppo_policy_loss
from rlhf.train.distributed import Distributed, gradient_sync
from rlhf.train.experience import Experience

__all__ = ["CriticLoss", "UpdateSettings", "update_policy"]

CriticLoss = Callable[[ActorOutput, Experience], Tensor | None]
"""An algorithm's critic loss of a micro-batch, summed over its response tokens (None: no critic)."""


@dataclass(frozen=True, kw_only=True)
class UpdateSettings:
    ppo_epochs: int
    mini_batches: int
    micro_batch_size: int
    clip_eps: float
    dual_clip: float | None
    entropy_coef: float
    target_kl: float | None
    kl_in_loss: bool
    kl_estimator: KLEstimator
    max_grad_norm: float


def _micro_loss(
    trained: nn.Module,
    batch: Experience,
    settings: UpdateSettings,
    kl_coef: float,
    critic_loss: CriticLoss,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The loss of a micro-batch summed over its response tokens, and metrics summed alike."""
    output: ActorOutput = trained(batch.rollout, entropy_grad=settings.entropy_coef > 0)
    mask = batch.mask
    assert batch.advantages is not None, "estimate advantages before the update"
    policy = ppo_policy_loss(
        output.logprobs,
        batch.old_logprobs,
        batch.advantages,
        clip_eps=settings.clip_eps,
        dual_clip=settings.dual_clip,
    )
    loss = masked_sum(policy, mask)
    tokens = mask.sum()
    metrics = {
        "policy/loss": loss.detach(),
        "policy/entropy": masked_sum(output.entropy.detach(), mask),
        "policy/clipfrac": clip_fraction(
            output.logprobs, batch.old_logprobs, mask, clip_eps=settings.clip_eps
        )
        * tokens,
        "policy/approx_kl": approx_kl(output.logprobs, batch.old_logprobs, mask) * tokens,
    }
    if settings.kl_in_loss:
        kl = masked_sum(
            kl_penalty(output.logprobs, batch.ref_logprobs, settings.kl_estimator), mask
        )
        loss = loss + kl_coef * kl
        metrics["policy/kl_loss"] = kl.detach()
    if settings.entropy_coef:
        loss = loss - settings.entropy_coef * masked_sum(output.entropy, mask)
    critic = critic_loss(output, batch)
    if critic is not None:
        loss = loss + critic
        metrics["value/loss"] = critic.detach()
    return loss, metrics


def update_policy(
    trained: nn.Module,
    optimizer: torch.optim.Optimizer,
    experience: Experience,
    *,
    settings: UpdateSettings,
    kl_coef: float,
    critic_loss: CriticLoss,
    dist: Distributed,
    generator: torch.Generator,
    autocast: Callable[[], AbstractContextManager[Any]],
) -> dict[str, float]:
    """Run the update phase on this process's share of a step; returns token-mean metrics."""
    sums: dict[str, Tensor] = {}
    total_tokens = torch.zeros(())
    updates = 0
    for _ in range(settings.ppo_epochs):
        order = torch.randperm(len(experience), generator=generator)
        for rows in order.chunk(settings.mini_batches):
            minibatch = experience.index(_by_prompt(experience, rows))
            tokens = dist.sum(minibatch.mask.sum())
            micro_batches = minibatch.split(settings.micro_batch_size)
            for index, micro in enumerate(micro_batches):
                last = index == len(micro_batches) - 1
                with gradient_sync(trained, last=last), autocast():
                    loss, metrics = _micro_loss(trained, micro, settings, kl_coef, critic_loss)
                torch.autograd.backward(loss * dist.world_size / tokens.clamp(min=1))
                for name, value in metrics.items():
                    sums[name] = sums.get(name, torch.zeros(())) + value.float()
            max_norm = settings.max_grad_norm or float("inf")
            grad_norm = torch.nn.utils.clip_grad_norm_(trained.parameters(), max_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            total_tokens = total_tokens + tokens
            updates += 1
            sums["optim/grad_norm"] = sums.get("optim/grad_norm", torch.zeros(())) + grad_norm
        if settings.target_kl is not None and _minibatch_kl(sums, total_tokens, dist) > (
            settings.target_kl
        ):
            break
    names = sorted(name for name in sums if name != "optim/grad_norm")
    means = dist.sum(torch.stack([sums[n] for n in names])) / total_tokens.clamp(min=1)
    result = {name: float(v) for name, v in zip(names, means.tolist(), strict=True)}
    result["optim/grad_norm"] = float(sums["optim/grad_norm"]) / updates
    result["update/optimizer_steps"] = float(updates)
    return result


def _by_prompt(experience: Experience, rows: Tensor) -> Tensor:
    """`rows` with those of the same prompt side by side (in their shuffled order otherwise).

    A minibatch's loss is a sum over its rows whatever their order, but micro-batches that hold
    whole groups of samples compute each prompt once (`rlhf.rollout.logprobs`).
    """
    _, inverse = experience.rollout.index(rows).prompt_groups()  # (R,)
    position = torch.arange(len(rows), device=inverse.device)
    first_seen = torch.full_like(inverse, len(rows)).scatter_reduce(
        0, inverse, position, reduce="amin"
    )  # (U,) where each prompt first appears
    return rows[torch.argsort(first_seen[inverse], stable=True).to(rows.device)]


def _minibatch_kl(sums: dict[str, Tensor], tokens: Tensor, dist: Distributed) -> float:
    """The approximate KL to the sampling policy so far, over all processes."""
    return float(dist.sum(sums["policy/approx_kl"]) / tokens.clamp(min=1))
