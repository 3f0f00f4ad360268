"""Agreement statistics against naive loops, published numbers and the `krippendorff` package."""

from __future__ import annotations

import itertools

import krippendorff
import numpy as np
import pytest
from quality_samples import random_codes

from rlhf.quality.agreement import (
    category_counts,
    cohen_kappa,
    coincidences,
    fleiss_kappa,
    krippendorff_alpha,
    pair_agreement,
    pairwise,
    percent_agreement,
)
from rlhf.quality.labels import MISSING, Codes


def naive_cohen(x: list[int], y: list[int]) -> float:
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if a != MISSING and b != MISSING]
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    categories = {c for pair in pairs for c in pair}
    expected = sum(
        (sum(a == c for a, _ in pairs) / n) * (sum(b == c for _, b in pairs) / n)
        for c in categories
    )
    return (observed - expected) / (1 - expected)


def naive_fleiss(rows: list[list[int]], categories: int) -> float:
    """Fleiss (1971) with every item rated by the same number of raters."""
    n = len(rows[0])
    p_i = [
        sum(r.count(c) * (r.count(c) - 1) for c in range(categories)) / (n * (n - 1)) for r in rows
    ]
    p_c = [sum(r.count(c) for r in rows) / (len(rows) * n) for c in range(categories)]
    p_bar, p_e = sum(p_i) / len(rows), sum(p * p for p in p_c)
    return (p_bar - p_e) / (1 - p_e)


def as_reliability(codes: Codes) -> np.ndarray:
    data = codes.astype(float).T
    data[data < 0] = np.nan
    return data


def test_cohen_kappa_textbook_example() -> None:
    # 50 items: both yes 20, yes/no 5, no/yes 10, both no 15 -> p_o 0.7, p_e 0.5, kappa 0.4
    x = np.array([0] * 25 + [1] * 25)
    y = np.array([0] * 20 + [1] * 5 + [0] * 10 + [1] * 15)
    assert cohen_kappa(x, y, 2) == pytest.approx(0.4)


@pytest.mark.parametrize("seed", range(5))
def test_cohen_kappa_matches_a_loop_with_missing_labels(seed: int) -> None:
    codes = random_codes(np.random.default_rng(seed), 80, 2, 4, missing=0.2)
    x, y = codes[:, 0], codes[:, 1]
    assert cohen_kappa(x, y, 4) == pytest.approx(naive_cohen(x.tolist(), y.tolist()))


def test_cohen_kappa_undefined_without_overlap_or_variety() -> None:
    assert np.isnan(cohen_kappa(np.array([0, MISSING]), np.array([MISSING, 1]), 2))
    assert np.isnan(cohen_kappa(np.array([1, 1]), np.array([1, 1]), 2))


def test_fleiss_kappa_published_example() -> None:
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> 0.210
    counts = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]  # fmt: skip
    codes = np.array([[c for c, n in enumerate(row) for _ in range(n)] for row in counts])
    assert fleiss_kappa(codes, 5) == pytest.approx(0.2099, abs=1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_fleiss_kappa_matches_a_loop(seed: int) -> None:
    codes = random_codes(np.random.default_rng(seed), 60, 4, 3, missing=0.0)
    assert fleiss_kappa(codes, 3) == pytest.approx(naive_fleiss(codes.tolist(), 3))


def test_percent_agreement_matches_a_loop_over_annotator_pairs() -> None:
    codes = random_codes(np.random.default_rng(7), 50, 5, 3, missing=0.3)
    shares = []
    for row in codes.tolist():
        labels = [c for c in row if c != MISSING]
        pairs = list(itertools.combinations(labels, 2))
        if pairs:
            shares.append(sum(a == b for a, b in pairs) / len(pairs))
    assert percent_agreement(codes) == pytest.approx(sum(shares) / len(shares))


def test_pair_agreement_and_pairwise_matrix() -> None:
    codes = np.array([[0, 0, 1], [1, 1, 1], [0, MISSING, 1]])
    assert pair_agreement(codes[:, 0], codes[:, 2]) == pytest.approx(1 / 3)
    matrix = pairwise(codes, pair_agreement)
    assert matrix[0, 1] == matrix[1, 0] == 1.0
    assert np.isnan(matrix[2, 2])


def test_coincidences_sum_to_the_pairable_values() -> None:
    codes = np.array([[0, 1, MISSING], [1, 1, 1], [2, MISSING, MISSING]])
    o = coincidences(codes, 3)
    assert o.sum() == pytest.approx(5)  # item 3 has a single value: not pairable
    np.testing.assert_allclose(o, o.T)


KRIPPENDORFF_2011 = [  # coders x units, Krippendorff (2011) "Computing Krippendorff's alpha"
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_krippendorff_alpha_published_example(level: str, published: float) -> None:
    codes = np.array(
        [[MISSING if v is None else v - 1 for v in row] for row in KRIPPENDORFF_2011]
    ).T
    assert krippendorff_alpha(codes, 5, level) == pytest.approx(published, abs=5e-4)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
@pytest.mark.parametrize("seed", range(4))
def test_krippendorff_alpha_matches_the_krippendorff_package(level: str, seed: int) -> None:
    codes = random_codes(np.random.default_rng(seed), 70, 4, 4, missing=0.35)
    ours = krippendorff_alpha(codes, 4, level)  # type: ignore[arg-type]
    theirs = krippendorff.alpha(
        reliability_data=as_reliability(codes),
        level_of_measurement=level,
        value_domain=[0.0, 1.0, 2.0, 3.0],
    )
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_category_counts() -> None:
    codes = np.array([[0, 0, MISSING], [2, 1, 2]])
    assert category_counts(codes, 3).tolist() == [[2, 0, 0], [0, 1, 2]]


def test_everything_is_nan_without_pairable_labels() -> None:
    single = np.array([[0, MISSING], [MISSING, 1]])
    assert np.isnan(percent_agreement(single))
    assert np.isnan(fleiss_kappa(single, 2))
    assert np.isnan(krippendorff_alpha(single, 2))
