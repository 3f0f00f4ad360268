"""Logistic regression by Newton's method, and the likelihood-ratio test of one coefficient.

Used to ask whether an annotator prefers longer responses beyond what the other annotators'
votes explain. A small ridge penalty on the slopes (not the intercept) keeps the fit finite when
an annotator always agrees with a unanimous consensus (perfect separation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit
from scipy.stats import chi2

from rlhf.quality.labels import Floats


@dataclass(frozen=True)
class LogisticFit:
    coefficients: Floats  # (P,)
    log_likelihood: float
    """The unpenalized log-likelihood at the penalized optimum."""


def logistic_fit(
    features: Floats, outcomes: Floats, *, ridge: float = 0.1, iterations: int = 50
) -> LogisticFit:
    """Maximize sum_n [y_n log p_n + (1 - y_n) log(1 - p_n)] - ridge/2 sum_{p>0} w_p^2.

    p_n = sigmoid(x_n . w); column 0 of `features` is the intercept (not penalized).
    features: (N, P), outcomes: (N,) in {0, 1} -> LogisticFit with coefficients (P,).
    """
    p = features.shape[1]
    penalty = np.full(p, ridge)
    penalty[0] = 0.0
    w = np.zeros(p)
    for _ in range(iterations):
        z = features @ w
        mu = expit(z)
        gradient = features.T @ (outcomes - mu) - penalty * w
        hessian = (features * (mu * (1 - mu))[:, None]).T @ features + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(p), gradient)
        w = w + step
        if np.abs(step).max() < 1e-10:
            break
    z = features @ w
    log_likelihood = float((outcomes * log_expit(z) + (1 - outcomes) * log_expit(-z)).sum())
    return LogisticFit(w, log_likelihood)


@dataclass(frozen=True)
class LikelihoodRatio:
    coefficient: float
    """The tested coefficient in the full model."""
    statistic: float
    """2 (log L_full - log L_reduced), approximately chi-square with 1 degree of freedom."""
    p_value: float


def likelihood_ratio_test(
    features: Floats, outcomes: Floats, column: int, *, ridge: float = 0.1
) -> LikelihoodRatio:
    """Test coefficient `column` = 0 by comparing the fits with and without that column.

    LR = 2 (l_full - l_reduced) ~ chi2(1) under the null (Wilks 1938).
    features: (N, P), outcomes: (N,) -> LikelihoodRatio.
    """
    full = logistic_fit(features, outcomes, ridge=ridge)
    reduced = logistic_fit(np.delete(features, column, axis=1), outcomes, ridge=ridge)
    statistic = max(0.0, 2 * (full.log_likelihood - reduced.log_likelihood))
    return LikelihoodRatio(
        float(full.coefficients[column]), statistic, float(chi2.sf(statistic, df=1))
    )
