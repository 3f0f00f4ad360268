"""Majority vote, Dawid-Skene (against crowd-kit), BIC class selection, leave-one-out, gold."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene as CrowdKitDawidSkene
from quality_samples import random_codes

from rlhf.quality.consensus import (
    annotator_gold_accuracy,
    dawid_skene,
    dawid_skene_bic,
    gold_accuracy,
    leave_one_out_majority,
    majority_vote,
    prefer_a,
)
from rlhf.quality.labels import BOTH_BAD, MISSING, TIE, A, B, Codes

M = MISSING
VOTES = np.array(
    [
        [A, A, B],  # clear a
        [A, B, M],  # split between a and b
        [TIE, TIE, A],  # tie wins
        [BOTH_BAD, A, M],  # split between both_bad and a
        [M, M, M],  # nobody
        [BOTH_BAD, BOTH_BAD, M],  # both bad
    ]
)


def test_majority_vote_labels_and_vote_shares() -> None:
    result = majority_vote(VOTES, 4)
    assert result.labels.tolist() == [A, TIE, TIE, TIE, M, BOTH_BAD]
    np.testing.assert_allclose(result.confidence[[0, 2, 5]], [2 / 3, 2 / 3, 1.0])
    # P(a > b) with ties counting half; nan where nothing expresses a preference
    np.testing.assert_allclose(result.prefer_a[:4], [2 / 3, 0.5, 1 / 3 + 1 / 3, 1.0])
    assert np.isnan(result.prefer_a[4:]).all()


def test_majority_vote_split_rules() -> None:
    assert majority_vote(VOTES, 4, split="none").labels.tolist() == [A, M, TIE, M, M, BOTH_BAD]
    random = majority_vote(VOTES, 4, split="random", seed=1).labels
    assert random[1] in (A, B)
    assert random[3] in (A, BOTH_BAD)
    assert (random == majority_vote(VOTES, 4, split="random", seed=1).labels).all()


def test_prefer_a_counts_ties_half() -> None:
    posteriors = np.array([[0.6, 0.2, 0.2, 0.0], [0.0, 0.0, 0.0, 1.0]])
    assert prefer_a(posteriors)[0] == pytest.approx(0.7)
    assert np.isnan(prefer_a(posteriors)[1])


def crowdkit_frame(codes: Codes) -> pd.DataFrame:
    rows, columns = np.nonzero(codes != MISSING)
    return pd.DataFrame({"task": rows, "worker": columns, "label": codes[rows, columns]})


CROWD_KIT_WARNINGS = "ignore::pandas.errors.Pandas4Warning"
"""crowd-kit 1.4 calls pandas APIs that pandas 3.1 deprecates; only the reference is affected."""


@pytest.mark.filterwarnings(CROWD_KIT_WARNINGS)
@pytest.mark.parametrize("seed", range(3))
def test_dawid_skene_matches_crowd_kit_step_for_step(seed: int) -> None:
    codes = random_codes(np.random.default_rng(seed), 120, 5, 3, missing=0.3)
    ours = dawid_skene(codes, 3, smoothing=0.0, max_iterations=4, tolerance=0.0)
    theirs = CrowdKitDawidSkene(n_iter=4, tol=0.0).fit(crowdkit_frame(codes))
    assert ours.iterations == len(theirs.loss_history_) == 4
    labelled = (codes != MISSING).any(axis=1)
    expected = theirs.probas_.sort_index()[[0, 1, 2]].to_numpy()
    np.testing.assert_allclose(ours.posteriors[labelled], expected, atol=1e-8)
    for j in range(5):  # crowd-kit: rows = observed label, columns = true class
        errors = theirs.errors_.loc[j].sort_index()[[0, 1, 2]].to_numpy()
        np.testing.assert_allclose(ours.confusions[j], errors.T, atol=1e-8)


def planted(seed: int, truth_classes: int = 2, items: int = 300) -> tuple[Codes, Codes]:
    """Two good annotators, one who swaps a and b, two who answer at random."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, truth_classes, size=items)
    good = [np.where(rng.random(items) < 0.85, truth, rng.integers(0, 2, items)) for _ in range(2)]
    swapped = np.where(truth < 2, 1 - truth, truth)
    adversarial = np.where(rng.random(items) < 0.9, swapped, truth)
    random = [rng.integers(0, 2, items) for _ in range(2)]
    return np.column_stack([*good, adversarial, *random]).astype(np.int64), truth


@pytest.mark.parametrize("seed", range(3))
def test_dawid_skene_beats_majority_by_learning_who_to_trust(seed: int) -> None:
    codes, truth = planted(seed)
    ds = dawid_skene(codes, 4, classes=(A, B))
    mv = majority_vote(codes, 4, split="random", seed=seed)
    assert gold_accuracy(ds.consensus.labels, truth)[0] > gold_accuracy(mv.labels, truth)[0] + 0.05
    assert ds.confusions[2, A, B] > 0.8  # it learnt that annotator 2 swaps the sides
    assert set(np.unique(ds.consensus.labels)) <= {A, B}
    assert (ds.posteriors[:, [TIE, BOTH_BAD]] == 0).all()


def test_bic_keeps_a_tie_class_only_when_the_data_support_it() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=400)  # a, b and true ties
    codes = np.column_stack(
        [np.where(rng.random(400) < 0.85, truth, rng.integers(0, 3, 400)) for _ in range(4)]
    ).astype(np.int64)
    assert dawid_skene_bic(codes, 4, [(A, B), (A, B, TIE)]).classes == (A, B, TIE)
    no_ties, _ = planted(0)
    noisy = np.where(rng.random(no_ties.shape) < 0.07, TIE, no_ties)  # ties said when unsure
    assert dawid_skene_bic(noisy, 4, [(A, B), (A, B, TIE)]).classes == (A, B)


def test_leave_one_out_majority_matches_a_loop() -> None:
    codes = random_codes(np.random.default_rng(3), 60, 5, 3, missing=0.4)
    ours = leave_one_out_majority(codes, 3)
    for i, j in np.ndindex(codes.shape):
        if codes[i, j] == MISSING:
            assert ours[i, j] == MISSING
            continue
        others = [c for k, c in enumerate(codes[i]) if k != j and c != MISSING]
        ranked = Counter(others).most_common()
        decided = bool(ranked) and (len(ranked) == 1 or ranked[0][1] > ranked[1][1])
        assert ours[i, j] == (ranked[0][0] if decided else MISSING)


def test_gold_accuracy() -> None:
    labels = np.array([A, B, M, TIE])
    gold = np.array([A, A, B, M])
    assert gold_accuracy(labels, gold) == (pytest.approx(1 / 3), 3)
    assert np.isnan(gold_accuracy(labels, np.full(4, M))[0])
    accuracy, counts = annotator_gold_accuracy(
        np.array([[A, M], [A, B], [B, B]]), np.array([A, A, M])
    )
    assert accuracy.tolist() == [1.0, 0.0]
    assert counts.tolist() == [2, 1]
