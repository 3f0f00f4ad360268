"""`load_reward_model(dir)`: read a reward model directory's card and return the right class.

The kinds are a table (`REWARD_MODEL_KINDS`); an ensemble directory loads each of its members
through the same table.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from rlhf.models.embedding_reward import EmbeddingRewardModel
from rlhf.models.ensemble import KIND as ENSEMBLE
from rlhf.models.ensemble import RewardEnsemble
from rlhf.models.feature_reward import FeatureRewardModel
from rlhf.models.loading import ModelLoadError
from rlhf.models.reward import RewardModel
from rlhf.models.reward_scoring import HeadScorer, RewardCard

__all__ = ["REWARD_MODEL_KINDS", "load_reward_model"]

Loader = Callable[[Path, str | None], HeadScorer]

REWARD_MODEL_KINDS: dict[str, Loader] = {
    RewardModel.kind: lambda path, device: RewardModel.from_pretrained(path, device=device),
    EmbeddingRewardModel.kind: lambda path, device: EmbeddingRewardModel.from_pretrained(
        path, device=device
    ),
    FeatureRewardModel.kind: lambda path, device: FeatureRewardModel.from_pretrained(
        path, device=device
    ),
}
"""How to load each kind of single reward model, by the `kind` in its card."""


def load_reward_model(
    directory: str | os.PathLike[str], *, device: str | None = None
) -> HeadScorer:
    """The reward model (or ensemble) saved in `directory`, ready to `score`.

    Raises:
        ModelLoadError: `directory` is missing, is not a reward model directory, or names an
            unknown kind.
    """
    path = Path(directory)
    card = RewardCard.read(path)
    if card.kind == ENSEMBLE:
        members = card.settings.get("members")
        if not isinstance(members, list) or len(members) < 2:
            raise ModelLoadError(f"{path}: an ensemble card must list at least two members")
        return RewardEnsemble([_load_single(path / str(m), device) for m in members])
    return _load_single(path, device)


def _load_single(path: Path, device: str | None) -> HeadScorer:
    card = RewardCard.read(path)
    loader = REWARD_MODEL_KINDS.get(card.kind)
    if loader is None:
        raise ModelLoadError(
            f"{path}: unknown reward model kind {card.kind!r} (known: "
            f"{', '.join([*REWARD_MODEL_KINDS, ENSEMBLE])}); was it written by a newer rlhf?"
        )
    return loader(path, device)
