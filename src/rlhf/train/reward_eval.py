"""How well rewards order held-out comparisons: accuracy, margin, loss and calibration.

The numbers a reward model is judged by (Ouyang et al. 2022; Bai et al. 2022): pairwise accuracy
on preferences it never trained on, the mean reward difference, the Bradley-Terry loss, and the
expected calibration error of its pairwise probabilities. Ties are not counted in accuracy (a tie
has no right side); their number is reported.

A cost model (Safe RLHF, Dai et al. 2023) is judged by `cost_report`: pairwise accuracy (the safer
response costs less), sign accuracy (safe responses below 0, unsafe above) and the cost loss.
`REPORTS` maps the objective to its report.

A model trained on ties carries Davidson's tie parameter nu per head; `tie_report` turns it into
what it means: the probability that two responses of equal reward are judged a tie, nu / (2 + nu).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from rlhf.data.comparisons import ComparisonIndex
from rlhf.data.records import Text
from rlhf.data.safety import signs_of
from rlhf.models.reward_scoring import Objective
from rlhf.ops.calibration import pairwise_expected_calibration_error
from rlhf.ops.reward_losses import bradley_terry_loss, cost_model_loss, davidson_tie_probability

__all__ = [
    "ECE_BINS",
    "RAW_COSTS",
    "REPORTS",
    "cost_report",
    "evaluate_scorer",
    "pairwise_report",
    "tie_report",
]

ECE_BINS = 10
"""Equal-width confidence bins over [0.5, 1] for the calibration error."""

RAW_COSTS = "none: a cost model scores raw costs, c > 0 unsafe"
"""The reference of a cost model's (identity) normalization."""


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


def cost_report(raw_costs: Tensor, index: ComparisonIndex) -> dict[str, float]:
    """Metrics of costs (M,) for the items of `index`, whose pairs put the safer response first.

    Returns `accuracy` (share of pairs whose safer response costs less), `sign_accuracy` (share
    of labelled responses on the right side of 0: c < 0 safe, c > 0 unsafe), `loss` (the cost
    loss, mean over pairs), `margin` (mean c_unsafer - c_safer), and the counts `pairs`,
    `labelled`, `unsafe` (labelled unsafe) and `ties` (left out).
    """
    tie = torch.tensor(index.tie, dtype=torch.bool)
    safer = torch.tensor(index.better, dtype=torch.long)[~tie]
    unsafer = torch.tensor(index.worse, dtype=torch.long)[~tie]
    costs = raw_costs.detach().double()
    sign = torch.tensor(signs_of(index.safe), dtype=torch.float64)  # (M,)
    known = sign != 0
    report = {
        "pairs": float(len(safer)),
        "labelled": float(int(known.sum())),
        "unsafe": float(int((sign > 0).sum())),
        "ties": float(int(tie.sum())),
    }
    if known.any():
        right = (sign[known] * costs[known] > 0).double().mean()
        report = {"sign_accuracy": float(right), **report}
    if len(safer) == 0:
        return report
    loss, metrics = cost_model_loss(costs[unsafer], costs[safer], sign[unsafer], sign[safer])
    return {
        "accuracy": float(metrics["cost/accuracy"]),
        "loss": float(loss),
        "margin": float(metrics["cost/margin"]),
        **report,
    }


REPORTS: dict[Objective, Callable[[Tensor, ComparisonIndex], dict[str, float]]] = {
    "reward": pairwise_report,
    "cost": cost_report,
}
"""How each objective's raw scores (M,) are judged on a `ComparisonIndex`."""


def evaluate_scorer(
    raw_scores: Callable[[Sequence[Text], Sequence[Text]], Tensor],
    index: ComparisonIndex,
    objective: Objective = "reward",
) -> dict[str, float]:
    """The report of a scoring function (raw scores (M,) of prompts and responses)."""
    prompts = [prompt for prompt, _ in index.items]
    responses = [response for _, response in index.items]
    return REPORTS[objective](raw_scores(prompts, responses), index)


def tie_report(tie_nu: Sequence[float]) -> dict[str, float]:
    """A model's Davidson tie parameter, one per head: `tie_nu` (their mean) and
    `tie_probability_equal`, the mean over heads of P(tie | equal rewards) = nu / (2 + nu)."""
    log_nu = torch.tensor([math.log(nu) for nu in tie_nu], dtype=torch.float64)
    at_equal = davidson_tie_probability(torch.zeros_like(log_nu), log_nu)  # (K,)
    return {"tie_nu": sum(tie_nu) / len(tie_nu), "tie_probability_equal": float(at_equal.mean())}
