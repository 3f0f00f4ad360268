"""A policy loaded for sampling: its tokenizer, its prompts, and batched seeded sampling.

Shared by `rlhf sample` (best of n) and `rlhf eval` (policy against baseline with the same seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rlhf.data.prompts import PromptExample, load_prompts
from rlhf.data.records import Text
from rlhf.data.tokenize import padding_id
from rlhf.models import load_causal_lm, load_tokenizer
from rlhf.rollout.backends import TorchBackend
from rlhf.rollout.sampling import SamplingConfig

__all__ = ["LoadedPolicy", "Samples", "load_policy"]


@dataclass(frozen=True)
class Samples:
    """Responses of one batch: their texts and lengths in tokens (EOS included)."""

    texts: list[str]
    lengths: torch.Tensor  # (B,) int64, on the CPU


@dataclass(frozen=True)
class LoadedPolicy:
    model: str
    """The directory it was loaded from."""
    tokenizer: Any
    backend: TorchBackend

    def prompts(
        self, data: str, format: str | None, *, max_prompt_length: int
    ) -> list[PromptExample]:
        """The distinct prompts of `data`, tokenized by this policy's tokenizer."""
        return load_prompts(data, format, self.tokenizer, max_prompt_length=max_prompt_length)

    def encode(self, prompts: Sequence[Text], *, max_prompt_length: int) -> list[PromptExample]:
        """Prompt texts tokenized for this policy."""
        return [
            PromptExample.encode(p, self.tokenizer, max_prompt_length=max_prompt_length)
            for p in prompts
        ]

    def sample(
        self,
        prompts: Sequence[PromptExample],
        sampling: SamplingConfig,
        *,
        generator: torch.Generator | None,
    ) -> Samples:
        """One response per prompt (repeat a prompt for more), drawn with `generator`."""
        rollout = self.backend.generate([p.ids for p in prompts], sampling, generator=generator)
        return Samples(rollout.texts(self.tokenizer), rollout.response_lengths.cpu())


def load_policy(model: str, *, device: str) -> LoadedPolicy:
    """The causal LM and tokenizer in `model`, ready to sample on `device`."""
    tokenizer = load_tokenizer(model)
    policy = load_causal_lm(model, device=device)
    backend = TorchBackend(
        policy,
        pad_token_id=padding_id(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        tokenizer=tokenizer,
    )
    return LoadedPolicy(model, tokenizer, backend)
