"""Experience: what one round of generation and scoring gives the policy update.

`Experience` holds a rollout (prompts, sampled responses, their log-probs under the policy that
sampled them) and what the round added to it: the reference policy's log-probs, the scores of the
reward (and cost) source, the critic's values, and (once the algorithm has estimated them) the
advantages and value targets. Every tensor has B rows, one per response, so a minibatch is
`experience.index(rows)`.

Prompts come from `rlhf.data.prompts.load_prompts`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor, nn

from rlhf.data.prompts import PromptExample
from rlhf.data.tokenize import padding_id
from rlhf.models.lora import adapters_off
from rlhf.models.value import ActorCritic, ActorOutput
from rlhf.rewards.sources import Scorer
from rlhf.rollout.backends import GenerationBackend
from rlhf.rollout.batch import Rollout
from rlhf.rollout.logprobs import response_logprobs
from rlhf.rollout.sampling import SamplingConfig

logger = logging.getLogger(__name__)

__all__ = [
    "Experience",
    "Scores",
    "Sources",
    "reference_pass",
    "sample",
    "score",
]


@dataclass(frozen=True)
class Experience:
    """B responses and everything the update needs about them."""

    rollout: Rollout
    # log-probs of the response tokens, (B, T) float32, 0 on padding
    old_logprobs: Tensor  # (B, T) under the policy that sampled them
    ref_logprobs: Tensor  # (B, T) under the reference policy
    # what the reward and cost sources said about each whole response
    scores: Tensor  # (B,) shaped reward (`rlhf.ops.shaping.shape_scores`), what is optimized
    raw_scores: Tensor  # (B,) what the reward source said
    costs: Tensor | None = None  # (B,) cost of safe RLHF
    gold: Tensor | None = None  # (B,) the gold scorer's score: logged, never optimized
    # the critic at collection time (PPO); None for critic-free algorithms
    old_values: Tensor | None = None  # (B, T)
    old_cost_values: Tensor | None = None  # (B, T)
    # the algorithm's estimates
    advantages: Tensor | None = None  # (B, T)
    returns: Tensor | None = None  # (B, T) value targets
    cost_returns: Tensor | None = None  # (B, T)

    def __len__(self) -> int:
        return len(self.rollout)

    @property
    def mask(self) -> Tensor:
        """(B, T) float32: 1 on response tokens."""
        return self.rollout.response_mask.float()

    def index(self, rows: Tensor) -> Experience:
        """The experience of the given rows."""
        changes: dict[str, Any] = {"rollout": self.rollout.index(rows)}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                changes[f.name] = value[rows]
        return replace(self, **changes)

    def split(self, size: int) -> Sequence[Experience]:
        """Consecutive chunks of `size` rows (micro-batches)."""
        return [
            self.index(torch.arange(start, min(start + size, len(self))))
            for start in range(0, len(self), size)
        ]


@dataclass(frozen=True)
class Scores:
    """One score per response, (B,) each: what is optimized, its cost, and the gold monitor."""

    rewards: Tensor
    costs: Tensor | None
    gold: Tensor | None


@dataclass(frozen=True)
class Sources:
    """What collecting experience reads from: the models of the run, as they are now."""

    policy: nn.Module
    """The policy (unwrapped)."""
    backend: GenerationBackend
    """What samples the responses from the policy (the live model, or a vLLM engine)."""
    actor: ActorCritic
    """The policy with its critic (unwrapped), for the critic's values."""
    reference: nn.Module | None
    """The frozen reference; None when it is the LoRA policy with its adapters off."""
    tokenizer: Any
    scorer: Scorer
    cost_scorer: Scorer | None
    gold_scorer: Scorer | None = None


def sample(
    sources: Sources,
    prompts: Sequence[PromptExample],
    sampling: SamplingConfig,
    *,
    batch_size: int,
    generator: torch.Generator,
) -> Rollout:
    """One response per prompt (repeat prompts for several), generated `batch_size` at a time."""
    tokenizer = sources.tokenizer
    pad_id = padding_id(tokenizer)
    chunks = [
        sources.backend.generate(
            [p.ids for p in prompts[start : start + batch_size]], sampling, generator=generator
        )
        for start in range(0, len(prompts), batch_size)
    ]
    return chunks[0] if len(chunks) == 1 else Rollout.concatenate(chunks, pad_token_id=pad_id)


def score(sources: Sources, prompts: Sequence[PromptExample], rollout: Rollout) -> Scores:
    """What the reward, cost and gold sources say about each of the rollout's responses."""
    texts = rollout.texts(sources.tokenizer)
    prompt_texts = [p.prompt for p in prompts]

    def by(scorer: Scorer | None) -> Tensor | None:
        return None if scorer is None else scorer(prompt_texts, texts)

    rewards = sources.scorer(prompt_texts, texts)
    return Scores(rewards, by(sources.cost_scorer), by(sources.gold_scorer))


@torch.no_grad()
def reference_pass(
    sources: Sources,
    rollout: Rollout,
    *,
    temperature: float,
    micro_batch_size: int,
    with_actor: bool,
) -> tuple[Tensor, ActorOutput | None]:
    """The reference's log-probs (B, T) and, `with_actor`, the actor's output now, in chunks.

    The actor pass gives the critic's values at collection time; a critic-free algorithm skips it
    and uses the log-probs the sampler recorded (the same quantity, `rlhf.rollout.logprobs`).
    """
    reference_parts: list[Tensor] = []
    actor_parts: list[ActorOutput] = []
    for chunk in rollout.split(micro_batch_size):
        if sources.reference is not None:
            reference_parts.append(
                response_logprobs(sources.reference, chunk, temperature=temperature)
            )
        else:
            with adapters_off(sources.policy) as base:
                reference_parts.append(response_logprobs(base, chunk, temperature=temperature))
        if with_actor:
            actor_parts.append(sources.actor(chunk))
    ref_logprobs = torch.cat(reference_parts)
    return ref_logprobs, _concatenate_outputs(actor_parts) if with_actor else None


def _concatenate_outputs(parts: Sequence[ActorOutput]) -> ActorOutput:
    def cat(name: str) -> Tensor | None:
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else torch.cat(values)

    logprobs, entropy = cat("logprobs"), cat("entropy")
    assert logprobs is not None
    assert entropy is not None
    return ActorOutput(
        logprobs=logprobs, entropy=entropy, values=cat("values"), cost_values=cat("cost_values")
    )
