"""A Bradley-Terry reward model on hand-made numeric features of a response.

The model RLHF tutorials start from: describe each response by a few numbers phi(x, y) (its length,
how much it repeats the prompt, whether it refuses, ...), standardize them on the training data,
and fit P(a > b) = sigmoid(w . (phi(x, a) - phi(x, b))), logistic regression on feature
differences. It is fast, needs no GPU, and its weights say what the annotators rewarded (and
which shortcuts, like length, a neural reward model may also pick up).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rlhf.data.records import Text, render_plain
from rlhf.models.loading import ModelLoadError
from rlhf.models.reward_scoring import Normalization, RewardCard
from rlhf.models.vector_reward import RewardHeads, VectorRewardModel

__all__ = ["DEFAULT_FEATURES", "FEATURES", "FeatureRewardModel", "feature_matrix"]

_WORD = re.compile(r"[\w']+")
_REFUSAL = re.compile(
    r"\b(sorry|i can(no|')t|i am not able|i'm not able|i won't|as an ai|i don't know)\b", re.I
)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _overlap(prompt: str, response: str) -> float:
    """Share of the response's distinct words that occur in the prompt."""
    said = set(_words(response))
    return len(said & set(_words(prompt))) / len(said) if said else 0.0


def _distinct(response: str) -> float:
    """Distinct words over words (1 = no repetition)."""
    words = _words(response)
    return len(set(words)) / len(words) if words else 0.0


FeatureFunction = Callable[[str, str], float]

FEATURES: dict[str, FeatureFunction] = {
    "log_chars": lambda p, r: math.log1p(len(r)),
    "log_words": lambda p, r: math.log1p(len(_words(r))),
    "log_lines": lambda p, r: math.log1p(r.count("\n")),
    "sentences": lambda p, r: math.log1p(len(re.findall(r"[.!?](\s|$)", r))),
    "questions": lambda p, r: math.log1p(r.count("?")),
    "exclamations": lambda p, r: math.log1p(r.count("!")),
    "digits": lambda p, r: sum(c.isdigit() for c in r) / max(len(r), 1),
    "distinct_words": lambda p, r: _distinct(r),
    "prompt_overlap": _overlap,
    "refusal": lambda p, r: float(bool(_REFUSAL.search(r))),
    "mean_word_length": lambda p, r: sum(map(len, _words(r))) / max(len(_words(r)), 1),
    "list_items": lambda p, r: math.log1p(len(re.findall(r"^\s*(?:[-*]|\d+[.)])\s", r, re.M))),
}
"""Each feature of a (prompt, response), both as plain text; a table, so adding one is one line."""

DEFAULT_FEATURES: tuple[str, ...] = tuple(FEATURES)


def feature_matrix(
    prompts: Sequence[Text], responses: Sequence[Text], names: Sequence[str]
) -> Tensor:
    """Raw (unstandardized) features (N, F) of each (prompt, response)."""
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(f"unknown features {unknown}; choose from {', '.join(FEATURES)}")
    rows = []
    for prompt, response in zip(prompts, responses, strict=True):
        p, r = render_plain(prompt), render_plain(response)
        rows.append([FEATURES[n](p, r) for n in names])
    return torch.tensor(rows, dtype=torch.float32).reshape(len(rows), len(names))


class FeatureRewardModel(VectorRewardModel):
    """Logistic regression (or a small MLP) on standardized numeric features."""

    kind = "features"

    def __init__(
        self,
        heads: RewardHeads,
        *,
        names: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
        normalization: Normalization | None = None,
    ) -> None:
        super().__init__(heads, normalization=normalization)
        if not len(names) == len(mean) == len(std) == heads.dim:
            raise ValueError("features, their statistics and the head width must agree")
        self.names = tuple(names)
        self.register_buffer("feature_mean", torch.tensor(list(mean), dtype=torch.float32))
        self.register_buffer("feature_std", torch.tensor(list(std), dtype=torch.float32))

    @classmethod
    def for_data(
        cls,
        prompts: Sequence[Text],
        responses: Sequence[Text],
        *,
        names: Sequence[str] = DEFAULT_FEATURES,
        heads: int = 1,
        hidden: int = 0,
        seed: int = 0,
    ) -> FeatureRewardModel:
        """A new model whose features are standardized on these (training) responses."""
        raw = feature_matrix(prompts, responses, names)
        mean = raw.mean(0)
        std = raw.std(0, correction=0).clamp(min=1e-6)
        model_heads = RewardHeads(len(names), heads=heads, hidden=hidden, seed=seed)
        return cls(model_heads, names=names, mean=mean.tolist(), std=std.tolist())

    def featurize(self, prompts: Sequence[Text], responses: Sequence[Text]) -> Tensor:
        raw = feature_matrix(prompts, responses, self.names)
        mean, std = self.get_buffer("feature_mean"), self.get_buffer("feature_std")
        return (raw - mean.cpu()) / std.cpu()

    def settings(self) -> dict[str, Any]:
        return {
            "features": list(self.names),
            "feature_mean": self.get_buffer("feature_mean").tolist(),
            "feature_std": self.get_buffer("feature_std").tolist(),
        }

    def weights(self) -> dict[str, float]:
        """The linear weight of each standardized feature, averaged over heads."""
        if self.heads_module.hidden:
            raise ValueError("an MLP head has no single weight per feature")
        per_feature = self.heads_module.w1.detach().mean(0).squeeze(-1)  # (F,)
        return dict(zip(self.names, per_feature.tolist(), strict=True))

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike[str], *, device: str | None = None
    ) -> FeatureRewardModel:
        path = Path(directory)
        card = RewardCard.read(path)
        heads = cls.load_heads(path, card)
        try:
            settings = card.settings
            model = cls(
                heads,
                names=settings["features"],
                mean=settings["feature_mean"],
                std=settings["feature_std"],
                normalization=card.normalization,
            )
        except (KeyError, ValueError) as error:
            raise ModelLoadError(
                f"{path}: the card's feature settings are invalid: {error}"
            ) from error
        model.objective, model.tie_nu = card.objective, card.tie_nu
        return model.to(device) if device else model
