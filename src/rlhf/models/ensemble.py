"""An ensemble of separately trained reward models, scored as one model with one head per member.

Members are trained from different seeds, each on its own bootstrap resample of the comparisons
(Lakshminarayanan et al. 2017; for reward models, Coste et al. 2023 and Eisenstein et al. 2023).
Each member's rewards are normalized by its own statistics; the ensemble's score is their mean and
its uncertainty their standard deviation. A member trained on ties keeps its own Davidson tie
parameter nu (fitted on its own resample); the ensemble lists them, one per member head. A
directory holds the card and `member-0/`, `member-1/`, ... (each a complete reward model
directory).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from rlhf.data.records import Text
from rlhf.models.reward_scoring import HeadScorer, Normalization, RewardCard

__all__ = ["RewardEnsemble", "member_dir"]

KIND = "ensemble"


def member_dir(directory: Path, index: int) -> Path:
    """Where member `index` of the ensemble in `directory` lives."""
    return directory / f"member-{index}"


class RewardEnsemble(HeadScorer):
    """K reward models scored together: raw rewards (N, K), one column per member head."""

    kind = KIND

    def __init__(self, members: Sequence[HeadScorer]) -> None:
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        self.members = list(members)
        self.normalization = Normalization(
            mean=tuple(m for member in members for m in member.normalization.mean),
            std=tuple(s for member in members for s in member.normalization.std),
            reference=members[0].normalization.reference,
        )
        objectives = {member.objective for member in members}
        if len(objectives) > 1:
            raise ValueError(f"an ensemble's members must share one objective, got {objectives}")
        self.objective = objectives.pop()
        if all(member.tie_nu is not None for member in members):
            self.tie_nu = tuple(nu for member in members for nu in member.tie_nu or ())

    def raw_scores(self, prompts: Sequence[Text], responses: Sequence[Text]) -> Tensor:
        return torch.cat([m.raw_scores(prompts, responses) for m in self.members], dim=-1)

    def card(self) -> RewardCard:
        settings = {"members": [member_dir(Path("."), i).name for i in range(len(self.members))]}
        return RewardCard(
            KIND, self.heads, self.normalization, settings, self.objective, self.tie_nu
        )

    def save_card(self, directory: str | os.PathLike[str]) -> Path:
        """Write the ensemble's card to `directory` (members are saved in their own dirs)."""
        path = Path(directory)
        self.card().write(path)
        return path
