"""Reward models on fixed feature vectors: K small heads over a frozen featurizer.

A `VectorRewardModel` turns each (prompt, response) into a vector once (frozen sentence embeddings,
or hand-made numeric features) and learns only `RewardHeads` on top. With a linear head the
Bradley-Terry model is logistic regression on feature differences:

    P(a > b) = sigmoid(w . (phi(x, a) - phi(x, b)))

Because the vectors never change, they are computed once per text (and cached on disk for
embeddings); training the heads then takes seconds. K > 1 heads, each trained on its own bootstrap
resample of the pairs, form an ensemble whose spread is the uncertainty of a score.
"""

from __future__ import annotations

import logging
import os
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from rlhf.data.records import Text
from rlhf.models.loading import ModelLoadError
from rlhf.models.reward_scoring import HeadScorer, Normalization, RewardCard

logger = logging.getLogger(__name__)

__all__ = ["RewardHeads", "VectorRewardModel"]

HEADS_FILE = "reward_heads.safetensors"


class RewardHeads(nn.Module):
    """K independent heads on a D-dim input: linear (`hidden=0`) or one hidden GELU layer.

    `forward(x)` maps (N, D) to rewards (N, K). Head k is initialized under `seed + k`, so heads
    start apart.
    """

    def __init__(self, dim: int, *, heads: int = 1, hidden: int = 0, seed: int = 0) -> None:
        super().__init__()
        if heads < 1 or hidden < 0:
            raise ValueError(f"need heads >= 1 and hidden >= 0, got heads={heads}, hidden={hidden}")
        self.dim, self.count, self.hidden = dim, heads, hidden
        width = hidden or 1
        self.w1 = nn.Parameter(torch.empty(heads, dim, width))  # (K, D, H)
        self.b1 = nn.Parameter(torch.zeros(heads, width))  # (K, H)
        self.w2 = nn.Parameter(torch.empty(heads, width) if hidden else torch.zeros(0))
        self.b2 = nn.Parameter(torch.zeros(heads) if hidden else torch.zeros(0))
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            for k in range(heads):
                torch.manual_seed(seed + k)
                self.w1[k].normal_(std=dim**-0.5)
                if hidden:
                    self.w2[k].normal_(std=hidden**-0.5)

    def forward(self, features: Tensor) -> Tensor:
        """Rewards (N, K) of feature vectors (N, D)."""
        first = torch.einsum("nd,kdh->nkh", features, self.w1) + self.b1  # (N, K, H)
        if not self.hidden:
            return first.squeeze(-1)
        return torch.einsum("nkh,kh->nk", nn.functional.gelu(first), self.w2) + self.b2


class VectorRewardModel(HeadScorer, nn.Module):
    """Heads over vectors from `featurize`; subclasses say how a text becomes a vector."""

    kind = "vector"

    def __init__(self, heads: RewardHeads, *, normalization: Normalization | None = None) -> None:
        super().__init__()
        self.heads_module = heads
        self.normalization = normalization or Normalization.identity(heads.count)

    @abstractmethod
    def featurize(self, prompts: Sequence[Text], responses: Sequence[Text]) -> Tensor:
        """Feature vectors (N, D), float32 on the CPU."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """What `from_settings` needs to rebuild the featurizer (JSON values)."""

    def forward(self, features: Tensor) -> Tensor:
        """Rewards (N, K) of feature vectors (N, D)."""
        return self.heads_module(features)  # type: ignore[no-any-return]

    @torch.no_grad()
    def raw_scores(self, prompts: Sequence[Text], responses: Sequence[Text]) -> Tensor:
        features = self.featurize(prompts, responses)
        device = self.heads_module.w1.device
        rewards: Tensor = self(features.to(device))
        return rewards.float().cpu()

    def card(self) -> RewardCard:
        heads = self.heads_module
        settings = {**self.settings(), "dim": heads.dim, "hidden": heads.hidden}
        return RewardCard(
            self.kind, heads.count, self.normalization, settings, self.objective, self.tie_nu
        )

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write the heads (safetensors) and the card to `directory`."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        state = {
            k: v.detach().cpu().contiguous() for k, v in self.heads_module.state_dict().items()
        }
        save_file(state, path / HEADS_FILE)
        self.card().write(path)
        return path

    @classmethod
    def load_heads(cls, directory: Path, card: RewardCard) -> RewardHeads:
        """The heads saved in `directory`, shaped as its card says."""
        if card.kind != cls.kind:
            raise ModelLoadError(f"{directory} holds a {card.kind} reward model, not {cls.kind}")
        path = directory / HEADS_FILE
        if not path.is_file():
            raise ModelLoadError(f"{directory} has no {HEADS_FILE}; save the model again")
        settings: Mapping[str, Any] = card.settings
        heads = RewardHeads(int(settings["dim"]), heads=card.heads, hidden=int(settings["hidden"]))
        heads.load_state_dict(load_file(path))
        return heads
