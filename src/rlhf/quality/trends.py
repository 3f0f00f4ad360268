"""Tests for change along a sequence: a CUSUM change point (permutation test) and a Kendall trend.

Used on an annotator's session: agreement with consensus (0/1) and log-seconds per item, in the
order the items were answered. Both tests are exact under exchangeability (no change): the
change-point p-value comes from permuting the sequence, the trend p-value from Kendall's tau.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau

from rlhf.quality.labels import Floats


@dataclass(frozen=True)
class ChangePoint:
    """The most likely single shift in the mean of a sequence."""

    index: int
    """First position after the change (0-based); -1 when the sequence is too short."""
    before: float
    """Mean before `index`."""
    after: float
    """Mean from `index` on."""
    statistic: float
    """max_k |S_k - k mean| / sqrt(k (n - k) / n), the standardized CUSUM."""
    p_value: float


def cusum_statistics(values: Floats, min_segment: int = 1) -> Floats:
    """Standardized CUSUM of every split point k = min_segment .. n - min_segment.

        T_k = |S_k - (k / n) S_n| / sqrt(k (n - k) / n),   S_k = sum_{t < k} x_t

    For a Gaussian mean shift at a known k this is the likelihood-ratio statistic (up to the
    scale); its maximum over k is the classic CUSUM test (Page 1954; Csorgo & Horvath, "Limit
    Theorems in Change-Point Analysis", 1997). values: (..., n) -> (..., n - 2 min_segment + 1).
    """
    n = values.shape[-1]
    k = np.arange(min_segment, n - min_segment + 1)
    sums = np.cumsum(values, axis=-1)
    partial = sums[..., k - 1]
    total = sums[..., -1:]
    return np.asarray(np.abs(partial - k / n * total) / np.sqrt(k * (n - k) / n), dtype=np.float64)


def change_point(
    values: Floats, *, min_segment: int = 10, permutations: int = 999, seed: int = 0
) -> ChangePoint:
    """The CUSUM change point of `values` (n,) and its permutation p-value.

        p = (1 + #{permutations with max T >= observed max T}) / (1 + permutations)

    Sequences shorter than 2 min_segment, or constant ones, give index -1 and p = 1.
    """
    n = values.size
    if n < 2 * min_segment or np.all(values == values[0]):
        mean = float(values.mean()) if n else math.nan
        return ChangePoint(-1, mean, mean, 0.0, 1.0)
    observed = cusum_statistics(values, min_segment)
    best = int(observed.argmax())
    rng = np.random.default_rng(seed)
    shuffled = rng.permuted(np.broadcast_to(values, (permutations, n)), axis=1)
    null = cusum_statistics(shuffled, min_segment).max(axis=1)
    p = (1 + int((null >= observed[best] - 1e-12).sum())) / (1 + permutations)
    index = best + min_segment
    return ChangePoint(
        index, float(values[:index].mean()), float(values[index:].mean()), float(observed[best]), p
    )


@dataclass(frozen=True)
class Trend:
    """Kendall's tau between position in the session and the value, with its p-value."""

    tau: float
    p_value: float


def trend(values: Floats) -> Trend:
    """Mann-Kendall trend test: Kendall's tau-b of (t, x_t), two-sided (Kendall 1938).

    values: (n,) -> Trend; tau nan and p = 1 when fewer than 3 values or all equal.
    """
    if values.size < 3 or np.all(values == values[0]):
        return Trend(math.nan, 1.0)
    result = kendalltau(np.arange(values.size), values)
    return Trend(float(result.statistic), float(result.pvalue))
