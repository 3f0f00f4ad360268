"""Inter-annotator agreement: percent agreement, Cohen's kappa, Fleiss' kappa, Krippendorff's alpha.

Every function takes category codes (`MISSING` = -1 where there is no label) and returns a float;
nan where the statistic is undefined (no overlap, or a single category used by everyone). Ties are
a category like any other. Confidence intervals: `rlhf.quality.bootstrap`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from rlhf.quality.labels import MISSING, Codes, Floats

Level = Literal["nominal", "ordinal", "interval"]


def category_counts(codes: Codes, n_categories: int) -> Floats:
    """How many annotators gave each item each category.

    codes: (I, J) ints, MISSING allowed -> (I, K) counts n_ik.
    """
    counts = np.zeros((codes.shape[0], n_categories), dtype=np.float64)
    rows, columns = np.nonzero(codes != MISSING)
    np.add.at(counts, (rows, codes[rows, columns]), 1.0)
    return counts


def pair_agreement(x: Codes, y: Codes) -> float:
    """Fraction of the items labelled by both annotators on which they agree.

    x, y: (I,) codes of two annotators -> p_o = #{i: x_i = y_i} / #{i: both labelled}.
    """
    both = (x != MISSING) & (y != MISSING)
    return float(np.mean(x[both] == y[both])) if both.any() else float("nan")


def percent_agreement(codes: Codes) -> float:
    """Mean over items (with >= 2 labels) of the fraction of annotator pairs that agree.

        P_i = sum_k n_ik (n_ik - 1) / (m_i (m_i - 1)),   P = mean_i P_i

    with m_i the number of labels of item i. This is Fleiss' (1971) observed agreement P-bar.
    codes: (I, J) -> float.
    """
    counts = category_counts(codes, int(codes.max(initial=0)) + 1)
    m = counts.sum(axis=1)
    pairable = m >= 2
    if not pairable.any():
        return float("nan")
    agreeing = (counts * (counts - 1)).sum(axis=1)
    return float(np.mean(agreeing[pairable] / (m[pairable] * (m[pairable] - 1))))


def cohen_kappa(x: Codes, y: Codes, n_categories: int) -> float:
    """Cohen's (1960) kappa of two annotators, over the items both labelled.

        kappa = (p_o - p_e) / (1 - p_e),   p_e = sum_k p_x(k) p_y(k)

    with p_x, p_y each annotator's own category frequencies. Cohen, "A coefficient of agreement for
    nominal scales", Educational and Psychological Measurement 20 (1960).
    x, y: (I,) codes -> float (nan when no item is shared or p_e = 1).
    """
    both = (x != MISSING) & (y != MISSING)
    if not both.any():
        return float("nan")
    xs, ys = x[both], y[both]
    p_o = float(np.mean(xs == ys))
    p_x = np.bincount(xs, minlength=n_categories) / xs.size
    p_y = np.bincount(ys, minlength=n_categories) / ys.size
    p_e = float(p_x @ p_y)
    return float("nan") if np.isclose(p_e, 1.0) else (p_o - p_e) / (1.0 - p_e)


def pairwise(codes: Codes, statistic: Callable[[Codes, Codes], float]) -> Floats:
    """`statistic` for every pair of annotators: (I, J) -> (J, J), symmetric, diagonal nan."""
    n = codes.shape[1]
    out = np.full((n, n), np.nan)
    for j in range(n):
        for k in range(j + 1, n):
            out[j, k] = out[k, j] = statistic(codes[:, j], codes[:, k])
    return out


def fleiss_kappa(codes: Codes, n_categories: int) -> float:
    """Fleiss' (1971) kappa for any number of annotators, items with >= 2 labels.

        kappa = (P - P_e) / (1 - P_e),   P_e = sum_k p_k^2,   p_k = sum_i n_ik / sum_i m_i

    P is `percent_agreement`. When items have different numbers of labels m_i (missing labels),
    P averages the per-item P_i and p_k pools all labels of those items; with a constant m this is
    exactly Fleiss, "Measuring nominal scale agreement among many raters", Psychological Bulletin
    76 (1971). codes: (I, J) -> float.
    """
    counts = category_counts(codes, n_categories)
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    if not m.size:
        return float("nan")
    p_i = (counts * (counts - 1)).sum(axis=1) / (m * (m - 1))
    p_k = counts.sum(axis=0) / m.sum()
    p_e = float(p_k @ p_k)
    return float("nan") if np.isclose(p_e, 1.0) else (float(p_i.mean()) - p_e) / (1.0 - p_e)


def coincidences(codes: Codes, n_categories: int) -> Floats:
    """Krippendorff's coincidence matrix: pairable values of each unit, each pair weighted 1/(m_u-1).

        o_ck = sum_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1),   units with m_u >= 2

    codes: (I, J) -> (K, K), symmetric, summing to the number of pairable values n.
    """
    counts = category_counts(codes, n_categories)
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    pairs = np.einsum("uc,uk->uck", counts, counts) - counts[:, :, None] * np.eye(n_categories)
    return np.asarray(np.einsum("uck,u->ck", pairs, 1.0 / (m - 1)), dtype=np.float64)


def squared_distances(totals: Floats, level: Level) -> Floats:
    """delta^2_ck of Krippendorff's metrics, given the value totals n_c: (K,) -> (K, K).

    nominal: [c != k]; interval: (c - k)^2; ordinal: (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2.
    """
    k = totals.size
    index = np.arange(k)
    if level == "nominal":
        return 1.0 - np.eye(k)
    if level == "interval":
        return np.asarray(np.subtract.outer(index, index) ** 2, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(totals)])
    low, high = np.minimum.outer(index, index), np.maximum.outer(index, index)
    spans = cumulative[high + 1] - cumulative[low]
    return np.asarray((spans - np.add.outer(totals, totals) / 2) ** 2, dtype=np.float64)


def krippendorff_alpha(codes: Codes, n_categories: int, level: Level = "nominal") -> float:
    """Krippendorff's alpha with missing labels, at the nominal, ordinal or interval level.

        alpha = 1 - D_o / D_e = 1 - (n - 1) sum_ck o_ck d_ck / sum_ck n_c n_k d_ck

    o from `coincidences`, n_c = sum_k o_ck, n = sum_c n_c, d = `squared_distances`.
    Krippendorff, "Content Analysis: An Introduction to Its Methodology" (2004), ch. 11;
    "Computing Krippendorff's Alpha-Reliability" (2011). For ordinal data the codes must be in
    scale order (see `LabelTable.ordinal_codes`). codes: (I, J) -> float.
    """
    o = coincidences(codes, n_categories)
    totals = o.sum(axis=1)
    n = float(totals.sum())
    if n < 2:
        return float("nan")
    d = squared_distances(totals, level)
    expected = float(totals @ d @ totals)
    if np.isclose(expected, 0.0):
        return float("nan")
    return 1.0 - (n - 1.0) * float((o * d).sum()) / expected
