"""Crowd Bradley-Terry: the objective against a loop, its gradient, its optimum, and recovery."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import NoisyBradleyTerry
from scipy.optimize import check_grad, minimize
from scipy.stats import spearmanr

from rlhf.quality.bradley_terry import (
    Comparisons,
    crowd_bradley_terry,
    negative_log_posterior,
    rao_kupper,
)
from rlhf.quality.labels import TIE, A, B


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def naive_objective(
    x: np.ndarray, data: Comparisons, variance: float, prior: tuple[float, float]
) -> float:
    o, j = data.n_objects, data.n_annotators
    scores, eta, theta = x[:o], x[o : o + j], x[-1]
    total = 0.0
    for c in range(data.left.size):
        d = scores[data.left[c]] - scores[data.right[c]]
        u, v, e = sigmoid(d - theta), sigmoid(-d - theta), eta[data.annotator[c]]
        outcome = data.outcome[c]
        p = (
            e * u + (1 - e) * v
            if outcome == A
            else e * v + (1 - e) * u
            if outcome == B
            else 1 - u - v
        )
        total -= math.log(p)
    total += sum(s * s for s in scores) / (2 * variance)
    total -= sum((prior[0] - 1) * math.log(e) + (prior[1] - 1) * math.log(1 - e) for e in eta)
    return total


def simulate(
    seed: int, objects: int = 20, comparisons: int = 600, ties: bool = True
) -> tuple[Comparisons, np.ndarray]:
    """Three honest annotators, one who swaps sides 90% of the time, one who flips coins."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, 1.5, objects)
    left = rng.integers(0, objects, comparisons)
    right = (left + rng.integers(1, objects, comparisons)) % objects
    annotator = rng.integers(0, 5, comparisons)
    reliability = np.array([0.95, 0.95, 0.95, 0.1, 0.5])
    theta = 0.4 if ties else 0.0
    u, v = rao_kupper(truth[left] - truth[right], theta)
    draw = rng.random(comparisons)
    honest = np.where(draw < u, A, np.where(draw < u + v, B, TIE))
    swapped = np.where(honest == A, B, np.where(honest == B, A, TIE))
    outcome = np.where(rng.random(comparisons) < reliability[annotator], honest, swapped)
    data = Comparisons(left, right, annotator, outcome.astype(np.int64), objects, 5)
    return data, truth


def point(data: Comparisons, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.normal(size=data.n_objects), rng.uniform(0.1, 0.9, data.n_annotators), [0.3]]
    )


def test_objective_matches_a_loop() -> None:
    data, _ = simulate(0, objects=6, comparisons=50)
    x = point(data, 1)
    value, _ = negative_log_posterior(x, data, 4.0, (2.0, 1.0))
    assert value == pytest.approx(naive_objective(x, data, 4.0, (2.0, 1.0)), rel=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_gradient_matches_finite_differences(seed: int) -> None:
    data, _ = simulate(seed, objects=8, comparisons=80)
    x = point(data, seed)

    def value(y: np.ndarray) -> float:
        return negative_log_posterior(y, data, 4.0, (2.0, 1.0))[0]

    def gradient(y: np.ndarray) -> np.ndarray:
        return negative_log_posterior(y, data, 4.0, (2.0, 1.0))[1]

    assert check_grad(value, gradient, x) < 1e-5 * max(1.0, float(np.linalg.norm(gradient(x))))


def test_optimum_matches_a_gradient_free_search() -> None:
    data, _ = simulate(4, objects=5, comparisons=120)
    fitted = crowd_bradley_terry(data)
    bounds = [(None, None)] * 5 + [(1e-4, 1 - 1e-4)] * 5 + [(1e-6, 20.0)]
    x0 = np.concatenate([np.zeros(5), np.full(5, 0.8), [0.3]])
    reference = minimize(
        naive_objective, x0, args=(data, 4.0, (2.0, 1.0)), method="Powell", bounds=bounds,
        options={"xtol": 1e-8, "ftol": 1e-12, "maxfev": 200000},
    )  # fmt: skip
    assert fitted.converged
    assert -fitted.log_posterior == pytest.approx(reference.fun, abs=1e-4)
    np.testing.assert_allclose(fitted.scores, reference.x[:5], atol=2e-2)


@pytest.mark.parametrize("seed", range(3))
def test_recovers_scores_and_who_is_reliable(seed: int) -> None:
    data, truth = simulate(seed)
    fitted = crowd_bradley_terry(data)
    assert spearmanr(fitted.scores, truth).statistic > 0.9
    assert (fitted.reliability[:3] > 0.85).all()
    assert fitted.reliability[3] < 0.25  # adversarial
    assert 0.3 < fitted.reliability[4] < 0.7  # coin flips
    assert fitted.theta == pytest.approx(0.4, abs=0.15)


@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # crowd-kit on pandas 3.1
@pytest.mark.parametrize("seed", range(3))
def test_ranking_agrees_with_crowd_kit_noisy_bradley_terry(seed: int) -> None:
    """NoisyBT (Bugakova et al. 2019) models noise differently (skill and a left-side bias), so the
    rankings agree only roughly; ours should recover the true order at least as well."""
    data, truth = simulate(seed, ties=False)
    fitted = crowd_bradley_terry(data)
    winner = np.where(data.outcome == A, data.left, data.right)
    frame = pd.DataFrame(
        {"worker": data.annotator, "left": data.left, "right": data.right, "label": winner}
    )
    theirs = NoisyBradleyTerry(n_iter=200).fit(frame).scores_.sort_index().to_numpy()
    assert spearmanr(fitted.scores, theirs).statistic > 0.75
    assert spearmanr(fitted.scores, truth).statistic >= spearmanr(theirs, truth).statistic
    assert fitted.theta < 0.05  # no ties in the data: the tie threshold goes to its floor
