"""Bootstrap intervals over items: a loop, seeding, and undefined resamples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from quality_samples import random_codes

from rlhf.quality.agreement import fleiss_kappa, krippendorff_alpha
from rlhf.quality.bootstrap import Estimate, bootstrap, finite_or_none
from rlhf.quality.labels import Codes


def test_bootstrap_matches_a_loop_over_resampled_items() -> None:
    codes = random_codes(np.random.default_rng(0), 40, 3, 3, missing=0.1)

    def statistic(c: Codes) -> float:
        return fleiss_kappa(c, 3)

    rng = np.random.default_rng(5)
    rows = rng.integers(0, 40, size=(200, 40))
    values = sorted(statistic(codes[r]) for r in rows)
    estimate = bootstrap(statistic, codes, resamples=200, confidence=0.9, seed=5)
    assert estimate.value == statistic(codes)
    assert estimate.low == pytest.approx(np.percentile(values, 5))
    assert estimate.high == pytest.approx(np.percentile(values, 95))
    assert estimate.low <= estimate.value <= estimate.high
    assert estimate.resamples == 200


def test_bootstrap_is_seeded() -> None:
    codes = random_codes(np.random.default_rng(1), 30, 4, 2, missing=0.3)

    def alpha(c: Codes) -> float:
        return krippendorff_alpha(c, 2)

    first = bootstrap(alpha, codes, resamples=50, seed=3)
    assert first == bootstrap(alpha, codes, resamples=50, seed=3)
    assert first != bootstrap(alpha, codes, resamples=50, seed=4)


def test_bootstrap_drops_undefined_resamples_and_handles_none() -> None:
    codes = np.array([[0, 0], [1, 1]])

    def odd(c: Codes) -> float:
        return math.nan if (c[:, 0] == 0).all() else float(c.mean())

    estimate = bootstrap(odd, codes, resamples=100, seed=0)
    assert 0 < estimate.resamples < 100
    empty = bootstrap(odd, codes, resamples=0)
    assert math.isnan(empty.low)
    assert str(empty) == f"{estimate.value:.3f}"


def test_estimate_json_has_no_nan() -> None:
    estimate = Estimate(math.nan, math.nan, math.nan, 0.95, 0)
    assert estimate.as_json() == {"value": None, "low": None, "high": None, "confidence": 0.95}
    assert str(estimate) == "n/a"
    assert finite_or_none(0.12345678) == 0.123457
    assert finite_or_none(math.inf) is None
