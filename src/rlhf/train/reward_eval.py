"""How well rewards order held-out comparisons: accuracy, margin, loss and calibration.

The numbers a reward model is judged by (Ouyang et al. 2022; Bai et al. 2022): pairwise accuracy
on preferences it never trained on, the mean reward difference, the Bradley-Terry loss, and the
expected calibration error of its pairwise probabilities. Ties are not counted in accuracy (a tie
has no right side); their number is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from rlhf.data.comparisons import ComparisonIndex
from rlhf.data.records import Text
from rlhf.ops.calibration import pairwise_expected_calibration_error
from rlhf.ops.reward_losses import bradley_terry_loss

__all__ = ["ECE_BINS", "evaluate_scorer", "pairwise_report"]

ECE_BINS = 10
"""Equal-width confidence bins over [0.5, 1] for the calibration error."""


def pairwise_report(raw_rewards: Tensor, index: ComparisonIndex) -> dict[str, float]:
    """Metrics of raw rewards (M,) for the items of `index` on its decisive pairs.

    Returns `accuracy`, `loss` (Bradley-Terry, mean over pairs), `margin` (mean r_better -
    r_worse), `ece`, and the counts `pairs` (decisive) and `ties`.
    """
    tie = torch.tensor(index.tie, dtype=torch.bool)
    better = torch.tensor(index.better, dtype=torch.long)[~tie]
    worse = torch.tensor(index.worse, dtype=torch.long)[~tie]
    rewards = raw_rewards.detach().double()
    chosen, rejected = rewards[better], rewards[worse]  # (P,)
    report = {"pairs": float(len(better)), "ties": float(int(tie.sum()))}
    if len(better) == 0:
        return report
    loss, metrics = bradley_terry_loss(chosen, rejected)
    ece = pairwise_expected_calibration_error(chosen, rejected, n_bins=ECE_BINS)
    return {
        "accuracy": float(metrics["reward/accuracy"]),
        "loss": float(loss),
        "margin": float(metrics["reward/margin"]),
        "ece": float(ece),
        **report,
    }


def evaluate_scorer(
    raw_scores: Callable[[Sequence[Text], Sequence[Text]], Tensor], index: ComparisonIndex
) -> dict[str, float]:
    """`pairwise_report` of a scoring function (raw rewards (M,) of prompts and responses)."""
    prompts = [prompt for prompt, _ in index.items]
    responses = [response for _, response in index.items]
    return pairwise_report(raw_scores(prompts, responses), index)
