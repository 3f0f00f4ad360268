"""Ensemble disagreement and the pick of the most uncertain items, against plain loops."""

from __future__ import annotations

import math

import pytest
import torch

from rlhf.ops.acquisition import (
    DISAGREEMENTS,
    margin_std,
    most_uncertain,
    vote_disagreement,
)


def margins(n: int = 40, k: int = 5, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=generator, dtype=torch.float64)


def std_reference(rows: list[list[float]]) -> list[float]:
    out = []
    for row in rows:
        mean = sum(row) / len(row)
        out.append(math.sqrt(sum((d - mean) ** 2 for d in row) / len(row)))
    return out


def vote_reference(rows: list[list[float]]) -> list[float]:
    out = []
    for row in rows:
        ensemble_says_a = sum(row) / len(row) > 0
        out.append(sum((d > 0) != ensemble_says_a for d in row) / len(row))
    return out


def test_margin_std_matches_a_loop() -> None:
    d = margins()
    assert margin_std(d).tolist() == pytest.approx(std_reference(d.tolist()), abs=1e-12)


def test_vote_disagreement_matches_a_loop() -> None:
    d = margins()
    assert vote_disagreement(d).tolist() == pytest.approx(vote_reference(d.tolist()), abs=1e-12)


def test_disagreement_by_hand() -> None:
    d = torch.tensor(
        [
            [1.0, 1.0, 1.0, 1.0],  # all agree, same margin
            [3.0, 1.0, -1.0, 1.0],  # mean 1 (a); one head says b
            [0.0, 0.0, 0.0, 0.0],  # zero margins decide b, as does the ensemble
        ]
    )
    assert margin_std(d).tolist() == pytest.approx([0.0, math.sqrt(2.0), 0.0])
    assert vote_disagreement(d).tolist() == [0.0, 0.25, 0.0]


def test_disagreement_does_not_depend_on_the_order_of_the_responses() -> None:
    d = margins(seed=1)
    for name, disagreement in DISAGREEMENTS.items():
        assert disagreement(-d).tolist() == pytest.approx(disagreement(d).tolist()), name


def test_most_uncertain_matches_sorting() -> None:
    scores = torch.tensor([0.2, 0.9, 0.2, 0.5, 0.9, 0.0])
    reference = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    for k in range(len(scores) + 1):
        assert most_uncertain(scores, k).tolist() == reference[:k]


def test_most_uncertain_refuses_more_than_there_are() -> None:
    with pytest.raises(ValueError, match="cannot pick 4 of 3"):
        most_uncertain(torch.zeros(3), 4)
