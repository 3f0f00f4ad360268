"""How well a reward model's pairwise probabilities match how often it is right.

A Bradley-Terry reward model predicts P(a beats b) = sigmoid(r_a - r_b). Its prediction for a pair
is the response with the higher reward, made with confidence max(p, 1 - p) in [0.5, 1]; it is
calibrated when, among pairs predicted with confidence c, a fraction c is right.

- `calibration_bins`: per confidence bin, how many predictions, their mean confidence and accuracy
  (the numbers of a reliability diagram);
- `expected_calibration_error`: ECE = sum_b (n_b / N) |accuracy_b - confidence_b| (Naeini et al.
  2015; Guo et al. 2017, eq. 3), over equal-width bins;
- `pairwise_expected_calibration_error`: the ECE of a reward model's predictions on labelled pairs.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "CalibrationBins",
    "calibration_bins",
    "expected_calibration_error",
    "pairwise_expected_calibration_error",
]


class CalibrationBins(NamedTuple):
    """Per bin (B,): the number of predictions, their mean confidence and their accuracy (0 when
    a bin is empty)."""

    counts: Tensor
    confidence: Tensor
    accuracy: Tensor


def calibration_bins(
    confidences: Tensor, correct: Tensor, *, n_bins: int = 10, low: float = 0.0
) -> CalibrationBins:
    """Group predictions into `n_bins` equal-width confidence bins over [low, 1].

    Bin b holds confidences in [low + b w, low + (b + 1) w), w = (1 - low) / n_bins; the last bin
    also holds 1 exactly. Confidences below `low` go to the first bin.

    Args:
        confidences: (N,) the confidence of each prediction, in [low, 1].
        correct: (N,) 1 where the prediction was right, 0 where wrong (fractions allowed, e.g. 0.5
            for a coin flip).
        n_bins: number of bins.
        low: the lowest possible confidence (0.5 for binary predictions reported as the likelier
            side).
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    confidences = confidences.detach().to(torch.float64)
    correct = correct.detach().to(torch.float64)
    width = (1.0 - low) / n_bins
    index = ((confidences - low) / width).floor().long().clamp(0, n_bins - 1)  # (N,)
    counts = torch.zeros(n_bins, dtype=torch.float64, device=confidences.device)
    counts.scatter_add_(0, index, torch.ones_like(confidences))
    confidence_sums = torch.zeros_like(counts).scatter_add_(0, index, confidences)
    correct_sums = torch.zeros_like(counts).scatter_add_(0, index, correct)
    denominator = counts.clamp(min=1)
    return CalibrationBins(counts, confidence_sums / denominator, correct_sums / denominator)


def expected_calibration_error(
    confidences: Tensor, correct: Tensor, *, n_bins: int = 10, low: float = 0.0
) -> Tensor:
    """ECE = sum_b (n_b / N) |accuracy_b - confidence_b|, a scalar in [0, 1] (0 for no predictions).

    Shapes and bins as in `calibration_bins`.
    """
    bins = calibration_bins(confidences, correct, n_bins=n_bins, low=low)
    total = bins.counts.sum().clamp(min=1)
    return (bins.counts / total * (bins.accuracy - bins.confidence).abs()).sum()


def pairwise_expected_calibration_error(
    chosen_rewards: Tensor, rejected_rewards: Tensor, *, n_bins: int = 10
) -> Tensor:
    """The ECE of the Bradley-Terry predictions sigmoid(r_c - r_r) on pairs labelled chosen > rejected.

    Each pair is predicted for the side with the higher reward, with confidence max(p, 1 - p);
    it is right when that side is `chosen` (half right at exactly equal rewards). Bins cover
    [0.5, 1]. Rewards must be on the scale the model was trained on (not normalized), since the
    probabilities depend on it.

    Args:
        chosen_rewards: (P,) rewards of the preferred responses.
        rejected_rewards: (P,) rewards of the other responses.
        n_bins: number of equal-width bins over [0.5, 1].
    """
    differences = (chosen_rewards - rejected_rewards).detach().to(torch.float64)  # (P,)
    p = torch.sigmoid(differences)
    confidences = torch.maximum(p, 1 - p)
    correct = (differences > 0).to(torch.float64) + 0.5 * (differences == 0)
    return expected_calibration_error(confidences, correct, n_bins=n_bins, low=0.5)
