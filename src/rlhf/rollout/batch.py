"""The rollout batch: what one round of generation hands to scoring and training.

A row is a left-padded prompt followed by a right-padded response:

    sequences  = [pad pad p0 p1 p2 | r0 r1 r2 eos pad pad]
    prompt_mask  [ 0   0   1  1  1 ]
    response_mask                  [ 1  1  1  1   0   0 ]

so every response starts at the same column P, and the logits at column P - 1 + t predict response
token t in every row (`rlhf.rollout.logprobs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor

__all__ = ["Rollout", "prompt_groups"]


@dataclass(frozen=True)
class Rollout:
    """A batch of B prompts of padded length P and their responses of padded length T."""

    # the prompts, left-padded so that all responses start at column P
    prompt_ids: Tensor  # (B, P) int64, pad id on the left
    prompt_mask: Tensor  # (B, P) int64, 1 = real prompt token

    # the responses, right-padded with the pad id
    response_ids: Tensor  # (B, T) int64
    response_mask: Tensor  # (B, T) int64, 1 on generated tokens up to and including EOS/stop
    finished: Tensor  # (B,) bool, ended by EOS or a stop string rather than max_new_tokens

    # log pi(y_t | x, y_<t) of each sampled token under softmax(logits / temperature), before
    # top-k/top-p truncation (temperature 1 when greedy); 0 under response_mask 0
    logprobs: Tensor  # (B, T) float32

    def __len__(self) -> int:
        return int(self.prompt_ids.shape[0])

    @property
    def prompt_length(self) -> int:
        """P, the padded prompt length: the column where every response starts."""
        return int(self.prompt_ids.shape[1])

    @property
    def sequences(self) -> Tensor:
        """Prompt and response ids side by side: (B, P + T)."""
        return torch.cat([self.prompt_ids, self.response_ids], dim=1)

    @property
    def attention_mask(self) -> Tensor:
        """1 on real prompt and response tokens, 0 on padding: (B, P + T)."""
        return torch.cat([self.prompt_mask, self.response_mask], dim=1)

    @property
    def position_ids(self) -> Tensor:
        """Each token's position among its row's real tokens, cumsum(mask) - 1 clamped at 0.

        (B, P + T); the first real token is at position 0 whatever the left padding.
        """
        return (self.attention_mask.cumsum(dim=1) - 1).clamp(min=0)

    @property
    def response_lengths(self) -> Tensor:
        """Generated tokens per row, EOS/stop token included: (B,) int64."""
        return self.response_mask.sum(dim=1)

    def prompt_groups(self) -> tuple[Tensor, Tensor]:
        """Rows with the same prompt: `prompt_groups(prompt_ids, prompt_mask)`."""
        return prompt_groups(self.prompt_ids, self.prompt_mask)

    def texts(self, tokenizer: Any) -> list[str]:
        """The responses as text, without padding and special tokens (EOS)."""
        rows = [
            ids[mask.bool()].tolist()
            for ids, mask in zip(self.response_ids, self.response_mask, strict=True)
        ]
        return [str(text) for text in tokenizer.batch_decode(rows, skip_special_tokens=True)]

    def to(self, device: torch.device | str) -> Rollout:
        """The same rollout with every tensor on `device`."""
        return self._map(lambda tensor: tensor.to(device))

    def index(self, rows: Tensor | Sequence[int] | slice) -> Rollout:
        """The rollout of the given rows (a slice, a list of row numbers, or an index tensor)."""
        if not isinstance(rows, slice | Tensor):
            rows = torch.as_tensor(list(rows), dtype=torch.long, device=self.prompt_ids.device)
        return self._map(lambda tensor: tensor[rows])

    def split(self, size: int) -> list[Rollout]:
        """Consecutive minibatches of `size` rows (the last may be smaller)."""
        if size < 1:
            raise ValueError(f"Rollout.split needs a minibatch size >= 1, got {size}.")
        return [self.index(slice(start, start + size)) for start in range(0, len(self), size)]

    @classmethod
    def concatenate(cls, rollouts: Sequence[Rollout], *, pad_token_id: int) -> Rollout:
        """Stack rollouts row-wise, re-padding prompts on the left and responses on the right."""
        if not rollouts:
            raise ValueError("Rollout.concatenate needs at least one rollout.")
        prompt = max(r.prompt_length for r in rollouts)
        response = max(int(r.response_ids.shape[1]) for r in rollouts)

        def padded(name: str, width: int, fill: float, left: bool) -> Tensor:
            parts = []
            for rollout in rollouts:
                tensor = getattr(rollout, name)
                missing = width - tensor.shape[1]
                pad = torch.full(
                    (tensor.shape[0], missing), fill, dtype=tensor.dtype, device=tensor.device
                )
                parts.append(torch.cat([pad, tensor] if left else [tensor, pad], dim=1))
            return torch.cat(parts)

        return cls(
            prompt_ids=padded("prompt_ids", prompt, pad_token_id, left=True),
            prompt_mask=padded("prompt_mask", prompt, 0, left=True),
            response_ids=padded("response_ids", response, pad_token_id, left=False),
            response_mask=padded("response_mask", response, 0, left=False),
            finished=torch.cat([r.finished for r in rollouts]),
            logprobs=padded("logprobs", response, 0.0, left=False),
        )

    def _map(self, function: Any) -> Rollout:
        return replace(self, **{f.name: function(getattr(self, f.name)) for f in fields(self)})


def prompt_groups(prompt_ids: Tensor, prompt_mask: Tensor) -> tuple[Tensor, Tensor]:
    """Rows with the same prompt (ids and mask): (first (U,), inverse (B,)) int64.

    `first[u]` is the first row of the u-th distinct prompt and `inverse[b]` the distinct prompt
    of row b, so `prompt_ids[first][inverse]` equals `prompt_ids` (B, P). U < B when prompts
    repeat (group sampling: GRPO, RLOO).
    """
    key = torch.cat([prompt_ids, prompt_mask], dim=1)  # (B, 2P)
    _, inverse = torch.unique(key, dim=0, return_inverse=True)  # (B,)
    rows = torch.arange(key.shape[0], device=key.device)
    first = torch.full((int(inverse.max()) + 1,), key.shape[0], device=key.device)
    first = first.scatter_reduce(0, inverse, rows, reduce="amin")  # (U,)
    return first, inverse
