"""Expected calibration error against a loop over bins, and on cases with a known answer."""

from __future__ import annotations

import math

import pytest
import torch

from rlhf.ops.calibration import (
    calibration_bins,
    expected_calibration_error,
    pairwise_expected_calibration_error,
)


def ece_reference(confidences: list[float], correct: list[float], n_bins: int, low: float) -> float:
    width = (1 - low) / n_bins
    total = 0.0
    for b in range(n_bins):
        lo, hi = low + b * width, low + (b + 1) * width
        members = [
            i
            for i, c in enumerate(confidences)
            if (lo <= c < hi) or (b == n_bins - 1 and c == 1.0) or (b == 0 and c < low)
        ]
        if members:
            accuracy = sum(correct[i] for i in members) / len(members)
            confidence = sum(confidences[i] for i in members) / len(members)
            total += len(members) / len(confidences) * abs(accuracy - confidence)
    return total


def test_ece_matches_a_loop_over_bins() -> None:
    generator = torch.Generator().manual_seed(0)
    confidences = torch.rand(200, generator=generator, dtype=torch.float64)
    confidences[:3] = torch.tensor([0.0, 1.0, 0.5])
    correct = (torch.rand(200, generator=generator) < confidences).double()
    ours = expected_calibration_error(confidences, correct, n_bins=7)
    reference = ece_reference(confidences.tolist(), correct.tolist(), 7, 0.0)
    assert ours.item() == pytest.approx(reference, abs=1e-12)


def test_bins_count_every_prediction() -> None:
    confidences = torch.tensor([0.55, 0.56, 0.95, 1.0])
    bins = calibration_bins(confidences, torch.tensor([1.0, 0.0, 1.0, 1.0]), n_bins=5, low=0.5)
    assert bins.counts.tolist() == [2, 0, 0, 0, 2]
    assert bins.accuracy.tolist() == [0.5, 0, 0, 0, 1.0]


def test_perfectly_calibrated_bins_give_zero() -> None:
    # four predictions at 0.75, three right; two at 1.0, both right
    confidences = torch.tensor([0.75] * 4 + [1.0, 1.0])
    correct = torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    assert expected_calibration_error(confidences, correct, n_bins=5, low=0.5).item() == 0.0


def test_pairwise_ece_by_hand() -> None:
    # reward differences +ln 3 (p = 0.75, right) and -ln 3 (predicts rejected with 0.75, wrong)
    chosen = torch.tensor([math.log(3), 0.0])
    rejected = torch.tensor([0.0, math.log(3)])
    ece = pairwise_expected_calibration_error(chosen, rejected, n_bins=5)
    # one bin, confidence 0.75, accuracy 0.5
    assert ece.item() == pytest.approx(0.25, abs=1e-7)


def test_pairwise_ece_of_an_overconfident_model_is_large() -> None:
    chosen = torch.tensor([10.0, 10.0, -10.0, -10.0])
    rejected = torch.zeros(4)
    assert pairwise_expected_calibration_error(chosen, rejected).item() == pytest.approx(
        0.5, abs=1e-4
    )


def test_ece_of_nothing_is_zero() -> None:
    assert expected_calibration_error(torch.zeros(0), torch.zeros(0)).item() == 0.0
