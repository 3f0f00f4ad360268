"""Each diagnostic on judgments built to have (or not have) the problem it looks for."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import binomtest

from rlhf.quality.diagnostics import (
    Thresholds,
    length_bias,
    position_bias,
    spam,
    spammer_score,
    speed,
)
from rlhf.quality.fatigue import fatigue
from rlhf.quality.labels import MISSING, TIE, A, B

LIMITS = Thresholds(permutations=499)
RNG = np.random.default_rng(0)


def judgments(n: int, accuracy: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(labels, consensus): the consensus is random a/b, the labels agree with it at `accuracy`."""
    consensus = rng.integers(0, 2, n)
    labels = np.where(rng.random(n) < accuracy, consensus, 1 - consensus)
    return labels.astype(np.int64), consensus.astype(np.int64)


def test_position_bias_flags_a_left_clicker_with_the_binomial_test() -> None:
    rng = np.random.default_rng(1)
    left = rng.integers(0, 2, 200)
    chose_left = rng.random(200) < 0.8
    codes = np.where(chose_left, np.where(left == 0, A, B), np.where(left == 0, B, A))
    consensus = rng.integers(0, 2, 200)
    found = position_bias(codes, left, consensus, np.ones(200, bool), LIMITS)
    k = int(chose_left.sum())
    assert found.value == pytest.approx(k / 200)
    assert found.statistic == k
    assert found.p_value == pytest.approx(binomtest(k, 200, 0.5).pvalue)
    assert found.flagged
    assert "position bias" in found.verdict
    assert found.consensus_left_rate == pytest.approx(0.5, abs=0.1)


def test_position_bias_not_flagged_for_a_fair_annotator_and_ignores_ties() -> None:
    rng = np.random.default_rng(2)
    left = rng.integers(0, 2, 300)
    codes = rng.integers(0, 2, 300)
    codes[:50] = TIE
    found = position_bias(codes, left, np.full(300, MISSING), np.zeros(300, bool), LIMITS)
    assert found.n == 250
    assert not found.flagged
    assert found.consensus_left_rate is None
    assert "assumed on the left" in found.verdict


def test_length_bias_beyond_consensus() -> None:
    rng = np.random.default_rng(3)
    n = 400
    lengths = rng.integers(10, 400, size=(n, 2)).astype(float)
    balance = rng.choice([-1.0, -1 / 3, 1 / 3, 1.0], n)  # the others' votes, independent of length
    ratio = np.log2((lengths[:, 0] + 1) / (lengths[:, 1] + 1))
    biased = np.where(rng.random(n) < expit(2 * balance + 0.8 * ratio), A, B)
    fair = np.where(rng.random(n) < expit(2 * balance), A, B)
    has_others = np.ones(n, bool)
    found = length_bias(biased, lengths, balance, has_others, LIMITS)
    assert found.flagged
    assert found.value == pytest.approx(0.8, abs=0.3)
    assert found.longer_rate is not None
    assert found.longer_rate > 0.6
    assert not length_bias(fair, lengths, balance, has_others, LIMITS).flagged


def test_length_bias_needs_other_annotators() -> None:
    lengths = np.tile([[100.0, 10.0]], (50, 1))
    alone = length_bias(np.full(50, A), lengths, np.zeros(50), np.zeros(50, bool), LIMITS)
    assert alone.value is None
    assert not alone.flagged
    assert alone.longer_rate == 1.0
    assert "cannot" not in alone.verdict
    assert "separate length from quality" in alone.verdict


def test_fatigue_finds_where_agreement_drops_and_seconds_shorten() -> None:
    rng = np.random.default_rng(4)
    labels, consensus = judgments(300, 0.9, rng)
    tired = rng.random(300) < np.where(np.arange(300) < 120, 0.0, 0.8)
    labels = np.where(tired, rng.integers(0, 2, 300), labels)
    seconds = np.where(np.arange(300) < 120, 30.0, 12.0) * rng.lognormal(0, 0.2, 300)
    found = fatigue(labels, consensus, seconds, np.arange(300), LIMITS)
    assert found.flagged
    assert found.change_at is not None
    assert abs(found.change_at - 120) <= 50  # binary data: the estimate is rough
    assert found.seconds_change_at is not None
    assert abs(found.seconds_change_at - 120) <= 5
    assert found.before is not None
    assert found.after is not None
    assert found.before > found.after
    assert found.value == pytest.approx(found.after - found.before)
    assert found.seconds_p_value is not None
    assert found.seconds_p_value < 0.01
    assert "fatigue" in found.verdict


def test_fatigue_not_flagged_for_a_steady_annotator() -> None:
    labels, consensus = judgments(300, 0.85, np.random.default_rng(5))
    found = fatigue(labels, consensus, np.full(300, np.nan), np.arange(300), LIMITS)
    assert not found.flagged
    assert found.seconds_before is None
    short = fatigue(labels[:10], consensus[:10], np.full(10, np.nan), np.arange(10), LIMITS)
    assert short.value is None


def test_speed_flags_answers_too_fast_to_read() -> None:
    rng = np.random.default_rng(6)
    others = rng.lognormal(np.log(30), 0.3, 500)
    fast = speed(rng.lognormal(np.log(4), 0.3, 100), others, LIMITS)
    normal = speed(rng.lognormal(np.log(28), 0.3, 100), others, LIMITS)
    assert fast.flagged
    assert fast.value is not None
    assert fast.value < 0.2
    assert fast.fast_share == 1.0
    assert not normal.flagged
    assert speed(np.full(5, np.nan), others, LIMITS).verdict == "no time recorded"
    assert speed(np.full(5, 3.0), np.full(5, np.nan), LIMITS).value is None


def test_spam_tells_random_from_reversed_from_honest() -> None:
    rng = np.random.default_rng(7)
    consensus = rng.integers(0, 2, 200)
    honest = spam(*judgments(200, 0.85, rng), 4, LIMITS)
    random = spam(rng.integers(0, 2, 200), consensus, 4, LIMITS)
    reverse = spam(1 - consensus, consensus, 4, LIMITS)
    assert not honest.flagged
    assert random.flagged
    assert "random" in random.verdict
    assert reverse.flagged
    assert "reversed" in reverse.verdict
    assert reverse.value == pytest.approx(-1.0, abs=0.05)
    few = spam(np.array([0, 1]), np.array([1, 0]), 4, LIMITS)
    assert not few.flagged
    assert "too few" in few.verdict


def test_spammer_score() -> None:
    assert spammer_score(np.eye(2)) == pytest.approx(1.0)
    assert spammer_score(np.array([[0.5, 0.5], [0.5, 0.5]])) == pytest.approx(0.0)
    assert spammer_score(np.array([[0.6, 0.3, 0.1, 0.0], [0.2, 0.7, 0.1, 0.0]])) > 0


def test_findings_serialize_to_json_without_nan() -> None:
    found = fatigue(*judgments(100, 0.8, RNG), np.full(100, np.nan), np.arange(100), LIMITS)
    text = json.dumps(found.as_json(), allow_nan=False)
    assert json.loads(text)["verdict"] == found.verdict


def test_thresholds_are_validated() -> None:
    with pytest.raises(ValueError, match="alpha"):
        Thresholds(alpha=1.5)
