"""What every reward model shares: the scoring protocol, normalization, and the card on disk.

A reward model gives each (prompt, response) K raw rewards, one per head (K = 1 for a single model,
K > 1 for an ensemble). Raw rewards live on the Bradley-Terry scale the model was trained on (a
difference d means P(better) = sigmoid(d)). Normalized rewards are rescaled per head to mean 0 and
standard deviation 1 on a reference set (the training responses), so rewards of different models
are comparable and a policy trainer's KL coefficient means the same thing for each:

    normalized_k = (raw_k - mean_k) / std_k
    score        = mean_k normalized_k         score_with_std = (score, std_k normalized_k)

The card `reward_model.json` in a model directory says which kind of model it is (so
`load_reward_model` can pick the class), how many heads it has, its normalization, the kind's own
settings, its objective: a reward (higher is better) or a cost (Safe RLHF, Dai et al. 2023:
higher is less safe), and, for a model trained on ties, Davidson's tie parameter nu per head (raw
rewards d apart tie with probability nu / (e^(d/2) + e^(-d/2) + nu)). A cost's zero is the
safe/unsafe boundary (c > 0: unsafe) that safe PPO's cost limit refers to, so a cost model is
never centered: its normalization is the identity and `score` returns raw costs.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import torch
from torch import Tensor

from rlhf.data.files import atomic_write_text
from rlhf.data.records import Text
from rlhf.models.loading import ModelLoadError

logger = logging.getLogger(__name__)

__all__ = [
    "CARD_FILE",
    "HeadScorer",
    "Normalization",
    "Objective",
    "RewardCard",
    "RewardScorer",
    "UncertainRewardScorer",
]

CARD_FILE = "reward_model.json"
CARD_FORMAT = 1
"""Bump when the card's layout changes incompatibly."""

Objective = Literal["reward", "cost"]
"""What a model scores: a reward (higher is preferred) or a cost (higher is less safe, > 0 unsafe)."""


@runtime_checkable
class RewardScorer(Protocol):
    """Anything that scores responses: every reward model, and ensembles of them."""

    def score(
        self, prompts: Sequence[Text], responses: Sequence[Text], *, normalize: bool = True
    ) -> Tensor:
        """Rewards (N,) of `responses[i]` to `prompts[i]`: normalized, or raw (BT scale)."""
        ...


@runtime_checkable
class UncertainRewardScorer(RewardScorer, Protocol):
    """A scorer with several heads (an ensemble), which also reports their disagreement."""

    def score_with_std(
        self, prompts: Sequence[Text], responses: Sequence[Text]
    ) -> tuple[Tensor, Tensor]:
        """The mean (N,) and standard deviation (N,) over heads of the normalized rewards."""
        ...


@dataclass(frozen=True)
class Normalization:
    """Per head: the mean and standard deviation of raw rewards on a reference set."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    reference: str = "none"
    """What the statistics were measured on (e.g. "training responses (n=4096)")."""

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise ValueError(f"invalid normalization: mean {self.mean}, std {self.std}")

    @classmethod
    def identity(cls, heads: int, *, reference: str = "none") -> Normalization:
        """No rescaling (before statistics are measured, and always for a cost model)."""
        return cls(mean=(0.0,) * heads, std=(1.0,) * heads, reference=reference)

    @property
    def is_identity(self) -> bool:
        return all(m == 0 for m in self.mean) and all(s == 1 for s in self.std)

    @classmethod
    def fit(cls, raw: Tensor, *, reference: str) -> Normalization:
        """Statistics of raw rewards (N, K): mean and population std (floored at 1e-6) per head."""
        raw = raw.detach().double()
        std = raw.std(dim=0, correction=0).clamp(min=1e-6)
        return cls(tuple(raw.mean(dim=0).tolist()), tuple(std.tolist()), reference)

    def apply(self, raw: Tensor) -> Tensor:
        """Normalized rewards (N, K) from raw rewards (N, K)."""
        mean = torch.tensor(self.mean, dtype=raw.dtype, device=raw.device)
        std = torch.tensor(self.std, dtype=raw.dtype, device=raw.device)
        return (raw - mean) / std

    def to_json(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "reference": self.reference}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Normalization:
        return cls(tuple(value["mean"]), tuple(value["std"]), str(value.get("reference", "")))


@dataclass(frozen=True)
class RewardCard:
    """The description of a saved reward model (`reward_model.json`)."""

    kind: str
    """Which class reads the directory: transformer, embedding, features or ensemble."""
    heads: int
    normalization: Normalization
    settings: Mapping[str, Any] = field(default_factory=dict)
    """What the kind needs to rebuild itself (pooling, feature names, member directories, ...)."""
    objective: Objective = "reward"
    """reward, or cost (raw scores: identity normalization, c > 0 unsafe)."""
    tie_nu: tuple[float, ...] | None = None
    """Davidson's tie parameter nu per head (learned, or fixed by --loss.tie-nu) when the model
    was trained on ties with the Davidson model; None otherwise (and absent from the file)."""

    def __post_init__(self) -> None:
        if self.objective not in get_args(Objective):
            raise ValueError(f"objective must be reward or cost, got {self.objective!r}")
        if self.tie_nu is not None and (
            len(self.tie_nu) != self.heads or not all(nu > 0 for nu in self.tie_nu)
        ):
            raise ValueError(f"tie_nu must be {self.heads} value(s) > 0, got {self.tie_nu}")
        if self.objective == "cost" and not self.normalization.is_identity:
            raise ValueError(
                "a cost model scores raw costs (0 is the safe/unsafe boundary), so its "
                f"normalization must be the identity, got {self.normalization.to_json()}"
            )

    def write(self, directory: Path) -> None:
        body = {
            "format": CARD_FORMAT,
            "kind": self.kind,
            "objective": self.objective,
            "heads": self.heads,
            "normalization": self.normalization.to_json(),
            "settings": dict(self.settings),
        }
        if self.tie_nu is not None:
            body["tie_nu"] = list(self.tie_nu)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / CARD_FILE, json.dumps(body, indent=2) + "\n")

    @classmethod
    def read(cls, directory: Path | str) -> RewardCard:
        """The card of `directory`; `ModelLoadError` saying what is wrong when there is none."""
        directory = Path(directory)
        if not directory.is_dir():
            state = "is a file, not a directory" if directory.exists() else "does not exist"
            raise ModelLoadError(
                f"reward model path {directory} {state}. Pass the --output directory of "
                "`rlhf train reward`."
            )
        path = directory / CARD_FILE
        if not path.is_file():
            raise ModelLoadError(
                f"{directory} is not a reward model directory: it has no {CARD_FILE}. Train one "
                "with `rlhf train reward --output DIR` and pass DIR."
            )
        try:
            body = json.loads(path.read_text())
            return cls(
                kind=body["kind"],
                heads=int(body["heads"]),
                normalization=Normalization.from_json(body["normalization"]),
                settings=body.get("settings", {}),
                objective=body.get("objective", "reward"),
                tie_nu=None if body.get("tie_nu") is None else tuple(body["tie_nu"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ModelLoadError(f"{path}: not a valid reward model card ({error!r})") from error


class HeadScorer(ABC):
    """`score` and `score_with_std` from raw per-head rewards and a `Normalization`."""

    normalization: Normalization
    objective: Objective = "reward"
    """What the model scores; a cost model keeps the identity normalization (raw costs)."""
    tie_nu: tuple[float, ...] | None = None
    """Davidson's tie parameter per head, as trained (`RewardCard.tie_nu`); None without ties."""

    @abstractmethod
    def raw_scores(self, prompts: Sequence[Text], responses: Sequence[Text]) -> Tensor:
        """Raw rewards (N, K), float32 on the CPU."""

    @property
    def heads(self) -> int:
        return len(self.normalization.mean)

    def score(
        self, prompts: Sequence[Text], responses: Sequence[Text], *, normalize: bool = True
    ) -> Tensor:
        """Rewards (N,): the mean over heads of normalized (or, with `normalize=False`, raw)
        rewards."""
        _check_lengths(prompts, responses)
        raw = self.raw_scores(prompts, responses)
        return (self.normalization.apply(raw) if normalize else raw).mean(dim=-1)

    def score_with_std(
        self, prompts: Sequence[Text], responses: Sequence[Text]
    ) -> tuple[Tensor, Tensor]:
        """Mean (N,) and population standard deviation (N,) over heads of normalized rewards."""
        if self.heads < 2:
            raise ValueError(
                "this reward model has one head, so no spread to report; train it with "
                "--ensemble K (K >= 2) for an uncertainty estimate"
            )
        _check_lengths(prompts, responses)
        normalized = self.normalization.apply(self.raw_scores(prompts, responses))
        return normalized.mean(dim=-1), normalized.std(dim=-1, correction=0)


def _check_lengths(prompts: Sequence[Text], responses: Sequence[Text]) -> None:
    if len(prompts) != len(responses):
        raise ValueError(f"got {len(prompts)} prompts but {len(responses)} responses; pair them")
