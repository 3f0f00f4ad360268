"""Change point (CUSUM, permutations), Kendall trend, and the logistic likelihood-ratio test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit

from rlhf.quality.regression import likelihood_ratio_test, logistic_fit
from rlhf.quality.trends import change_point, cusum_statistics, trend


def test_cusum_matches_a_loop() -> None:
    values = np.random.default_rng(0).normal(size=30)
    n, total = values.size, values.sum()
    expected = [
        abs(values[:k].sum() - k / n * total) / math.sqrt(k * (n - k) / n) for k in range(3, n - 2)
    ]
    np.testing.assert_allclose(cusum_statistics(values, min_segment=3), expected)


def test_change_point_finds_a_shift_in_a_rate() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.random(120) < 0.9, rng.random(180) < 0.5]).astype(float)
    found = change_point(values, permutations=499, seed=0)
    assert abs(found.index - 120) <= 15
    assert found.before > 0.8
    assert found.after < 0.6
    assert found.p_value == pytest.approx(1 / 500)  # nothing in 499 permutations came close


def test_change_point_p_value_is_a_permutation_rank() -> None:
    values = np.random.default_rng(2).normal(size=60)
    found = change_point(values, permutations=999, seed=3)
    rng = np.random.default_rng(3)
    null = cusum_statistics(rng.permuted(np.broadcast_to(values, (999, 60)), axis=1), 10)
    rank = (null.max(axis=1) >= found.statistic - 1e-12).sum()
    assert found.p_value == pytest.approx((1 + rank) / 1000)
    assert found.p_value > 0.05  # no change in white noise


def test_change_point_on_short_or_constant_sequences() -> None:
    assert change_point(np.ones(50)).p_value == 1.0
    short = change_point(np.arange(5.0))
    assert short.index == -1
    assert short.before == short.after == 2.0


def test_trend_is_kendall_tau() -> None:
    assert trend(np.arange(20.0)).tau == pytest.approx(1.0)
    assert trend(np.arange(20.0)).p_value < 1e-6
    assert math.isnan(trend(np.ones(10)).tau)


def penalized(w: np.ndarray, x: np.ndarray, y: np.ndarray, ridge: float) -> float:
    z = x @ w
    log_likelihood = np.sum(y * np.log(expit(z)) + (1 - y) * np.log(expit(-z)))
    return float(-log_likelihood + ridge / 2 * np.sum(w[1:] ** 2))


@pytest.mark.parametrize("ridge", [0.0, 0.1, 2.0])
def test_logistic_fit_matches_a_generic_optimizer(ridge: float) -> None:
    rng = np.random.default_rng(4)
    x = np.column_stack([np.ones(200), rng.normal(size=(200, 2))])
    y = (rng.random(200) < expit(x @ np.array([0.3, 1.0, -0.5]))).astype(float)
    fit = logistic_fit(x, y, ridge=ridge)
    reference = minimize(penalized, np.zeros(3), args=(x, y, ridge), method="BFGS", tol=1e-10)
    np.testing.assert_allclose(fit.coefficients, reference.x, atol=1e-5)
    assert fit.log_likelihood == pytest.approx(-penalized(fit.coefficients, x, y, 0.0), rel=1e-10)


def test_logistic_fit_stays_finite_under_perfect_separation() -> None:
    x = np.column_stack([np.ones(40), np.repeat([-1.0, 1.0], 20)])
    y = np.repeat([0.0, 1.0], 20)
    assert np.isfinite(logistic_fit(x, y, ridge=0.1).coefficients).all()


def test_likelihood_ratio_test_separates_a_real_effect_from_none() -> None:
    rng = np.random.default_rng(5)
    x = np.column_stack([np.ones(400), rng.normal(size=(400, 2))])
    y = (rng.random(400) < expit(1.5 * x[:, 1])).astype(float)
    real = likelihood_ratio_test(x, y, column=1, ridge=0.0)
    none = likelihood_ratio_test(x, y, column=2, ridge=0.0)
    assert real.p_value < 1e-10
    assert real.coefficient == pytest.approx(1.5, abs=0.4)
    assert none.p_value > 0.01
    full, reduced = logistic_fit(x, y, ridge=0.0), logistic_fit(x[:, [0, 1]], y, ridge=0.0)
    assert none.statistic == pytest.approx(2 * (full.log_likelihood - reduced.log_likelihood))
