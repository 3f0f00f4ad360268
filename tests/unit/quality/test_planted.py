"""Planted biases: the diagnostics find each one, and Dawid-Skene recovers gold better than votes.

The panel (`simulate.PLANTED`): three careful annotators, one who picks the left response ~80% of
the time, one who tires after 100 items, and a fast random spammer; 300 items, every annotator
judges every item in their own shuffled order.
"""

from __future__ import annotations

import numpy as np
import pytest

from rlhf.quality.aggregate import AGGREGATORS
from rlhf.quality.analysis import analyze
from rlhf.quality.consensus import gold_accuracy, majority_vote
from rlhf.quality.labels import CATEGORIES, LabelTable
from rlhf.quality.simulate import PLANTED, annotate, synthetic_items

EXPECTED_FLAGS = {
    "steady-1": [],
    "steady-2": [],
    "steady-3": [],
    "lefty": ["position_bias"],
    "tired": ["fatigue"],
    "spammer": ["too_fast", "spammer"],
}
DS_SEEDS = range(5)


def planted_table(seed: int, items: int = 300) -> LabelTable:
    simulated, gold = synthetic_items(items, seed=seed)
    return LabelTable.from_annotations(annotate(simulated, PLANTED, gold, seed=seed))


def check_flags(seed: int) -> None:
    analysis = analyze(planted_table(seed), resamples=0)
    found = {name: report.flags for name, report in analysis.annotators.items()}
    assert found == EXPECTED_FLAGS
    lefty = analysis.annotators["lefty"].position
    assert lefty.value is not None
    assert lefty.value == pytest.approx(0.8, abs=0.07)
    tired = analysis.annotators["tired"].fatigue
    assert tired.change_at is not None
    assert tired.change_at >= 80  # agreement falls after the first 100 items, not before


def test_diagnostics_find_each_planted_bias_and_nothing_else() -> None:
    check_flags(seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_diagnostics_find_each_planted_bias_on_more_seeds(seed: int) -> None:
    check_flags(seed)


def test_dawid_skene_recovers_gold_better_than_majority_vote(
    record_property: pytest.RecordProperty,
) -> None:
    """Majority vote two ways: a split between a and b as a tie (what `majority` does), or broken
    by a coin (the classic rule, kinder to majority vote here since the gold is never a tie)."""
    accuracy: dict[str, list[float]] = {"majority": [], "majority-random": [], "dawid-skene": []}
    for seed in DS_SEEDS:
        table = planted_table(seed)
        for method in ("majority", "dawid-skene"):
            accuracy[method].append(gold_accuracy(AGGREGATORS[method](table).labels, table.gold)[0])
        coin = majority_vote(table.codes, len(CATEGORIES), split="random", seed=seed)
        accuracy["majority-random"].append(gold_accuracy(coin.labels, table.gold)[0])
    for method, values in accuracy.items():
        record_property(f"gold_accuracy/{method}", [round(v, 3) for v in values])
    ds = np.array(accuracy["dawid-skene"])
    for baseline in ("majority", "majority-random"):
        assert (ds > np.array(accuracy[baseline])).all(), accuracy
    assert ds.mean() - np.mean(accuracy["majority-random"]) > 0.02
