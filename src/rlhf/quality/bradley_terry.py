"""Crowd Bradley-Terry: response scores and annotator reliabilities learnt jointly, with ties.

Each response o has a score s_o; a comparison of a with b by annotator j has the Rao-Kupper
probabilities of an honest judge, with d = s_a - s_b and a tie threshold theta > 0,

    u = sigmoid(d - theta) = P(a),   v = sigmoid(-d - theta) = P(b),   1 - u - v = P(tie),

and annotator j judges honestly with probability eta_j, or with the sides swapped otherwise
(Chen et al. 2013), so that

    P_j(a) = eta_j u + (1 - eta_j) v,   P_j(b) = eta_j v + (1 - eta_j) u,   P_j(tie) = 1 - u - v.

eta_j near 1 is a reliable annotator, near 0.5 a random one, below 0.5 an adversarial one. The
maximum a posteriori scores, reliabilities and theta are found with L-BFGS-B, under a Gaussian
prior s ~ N(0, score_variance) (which also fixes the scale of responses seen once) and a
Beta(alpha, beta) prior on eta (alpha > beta breaks the symmetry (s, eta) <-> (-s, 1 - eta)).

Chen, Bennett, Collins-Thompson & Horvitz, "Pairwise ranking aggregation in a crowdsourced
setting", WSDM 2013. Rao & Kupper, "Ties in paired-comparison experiments: a generalization of the
Bradley-Terry model", JASA 62 (1967).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from rlhf.quality.labels import TIE, A, Codes, Floats

RELIABILITY_BOUNDS = (1e-4, 1 - 1e-4)
THETA_BOUNDS = (1e-6, 20.0)


@dataclass(frozen=True)
class Comparisons:
    """Judged comparisons: response `left[c]` (a) against `right[c]` (b) by `annotator[c]`."""

    left: Codes  # (C,) object index of response a
    right: Codes  # (C,) object index of response b
    annotator: Codes  # (C,) annotator index
    outcome: Codes  # (C,) A, B or TIE
    n_objects: int
    n_annotators: int


@dataclass(frozen=True)
class CrowdBT:
    """The fitted crowd Bradley-Terry model."""

    scores: Floats  # (O,) s_o, logit scale
    reliability: Floats  # (J,) eta_j
    theta: float
    """The Rao-Kupper tie threshold."""
    log_posterior: float
    converged: bool


def rao_kupper(d: Floats, theta: float) -> tuple[Floats, Floats]:
    """(u, v) = (P(a), P(b)) of an honest judge for score differences d: (C,) -> (C,), (C,)."""
    return expit(d - theta), expit(-d - theta)


def _sum_by(index: Codes, values: Floats, size: int) -> Floats:
    """out[k] = sum of values[c] over c with index[c] = k: (C,) -> (size,)."""
    return np.asarray(np.bincount(index, values, size), dtype=np.float64)


def _split(x: Floats, data: Comparisons) -> tuple[Floats, Floats, float]:
    o = data.n_objects
    return x[:o], x[o : o + data.n_annotators], float(x[-1])


def negative_log_posterior(
    x: Floats, data: Comparisons, score_variance: float, prior: tuple[float, float]
) -> tuple[float, Floats]:
    """-log posterior of the parameters x = [s (O), eta (J), theta] and its gradient (O + J + 1,)."""
    scores, eta, theta = _split(x, data)
    d = scores[data.left] - scores[data.right]
    u, v = rao_kupper(d, theta)
    du, dv = u * (1 - u), v * (1 - v)  # du/dd = du, dv/dd = -dv; both fall with theta
    e = eta[data.annotator]
    is_a, is_tie = data.outcome == A, data.outcome == TIE
    win, lose = np.where(is_a, u, v), np.where(is_a, v, u)  # honest, swapped outcome prob
    dwin, dlose = np.where(is_a, du, -dv), np.where(is_a, -dv, du)  # d/dd of win, lose
    likelihood = np.where(is_tie, 1 - u - v, e * win + (1 - e) * lose)
    likelihood = np.maximum(likelihood, 1e-300)
    g_d = np.where(is_tie, -du + dv, e * dwin + (1 - e) * dlose) / likelihood
    tie_theta = du + dv
    g_theta = np.where(
        is_tie, tie_theta, -(e * np.where(is_a, du, dv) + (1 - e) * np.where(is_a, dv, du))
    )
    g_eta = np.where(is_tie, 0.0, win - lose) / likelihood
    alpha, beta = prior
    value = -np.log(likelihood).sum() + (scores @ scores) / (2 * score_variance)
    value -= ((alpha - 1) * np.log(eta) + (beta - 1) * np.log(1 - eta)).sum()
    objects = data.n_objects
    grad_s = _sum_by(data.right, g_d, objects) - _sum_by(data.left, g_d, objects)
    grad_s += scores / score_variance
    grad_eta = -_sum_by(data.annotator, g_eta, data.n_annotators)
    grad_eta -= (alpha - 1) / eta - (beta - 1) / (1 - eta)
    grad_theta = -float((g_theta / likelihood).sum())
    return float(value), np.concatenate([grad_s, grad_eta, [grad_theta]])


def crowd_bradley_terry(
    data: Comparisons,
    *,
    score_variance: float = 4.0,
    reliability_prior: tuple[float, float] = (2.0, 1.0),
    max_iterations: int = 500,
) -> CrowdBT:
    """Fit scores (O,), reliabilities (J,) and the tie threshold by maximum a posteriori.

    Starts from s = 0, eta = 0.8 and the theta that reproduces the overall tie rate at d = 0.
    """
    tie_rate = min(float(np.mean(data.outcome == TIE)) if data.outcome.size else 0.0, 0.9)
    theta0 = max(float(np.log((1 + tie_rate) / (1 - tie_rate))), 1e-3)
    x0 = np.concatenate([np.zeros(data.n_objects), np.full(data.n_annotators, 0.8), [theta0]])
    bounds: list[tuple[float | None, float | None]] = [(None, None)] * data.n_objects
    bounds += [RELIABILITY_BOUNDS] * data.n_annotators + [THETA_BOUNDS]
    result = minimize(
        negative_log_posterior,
        x0,
        args=(data, score_variance, reliability_prior),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": max_iterations},
    )
    scores, eta, theta = _split(result.x, data)
    return CrowdBT(scores, eta, theta, -float(result.fun), bool(result.success))
