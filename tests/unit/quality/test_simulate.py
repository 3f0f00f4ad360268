"""Simulated annotators: each behaviour does what its profile says, through records and the store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rlhf.data import check_record
from rlhf.quality.simulate import (
    PLANTED,
    AnnotatorProfile,
    SimulatedAnnotator,
    annotate,
    annotate_in_store,
    assignments,
    gold_label,
    synthetic_items,
)
from rlhf.store import Store
from rlhf.store.errors import StoreError

ITEMS, GOLD = synthetic_items(200, seed=1)


def run(profile: AnnotatorProfile, seed: int = 0) -> list:  # type: ignore[type-arg]
    annotator = SimulatedAnnotator(profile, GOLD, seed=seed)
    return [annotator.judge(item) for item in ITEMS]


def accuracy(annotations: list) -> float:  # type: ignore[type-arg]
    return float(np.mean([a.judgment == a.metadata["gold"] for a in annotations]))


def test_annotations_are_valid_records_with_display_order_time_and_gold() -> None:
    annotations = run(AnnotatorProfile(name="ann"))
    assert all(check_record(a) == [] for a in annotations)
    assert {a.display_order for a in annotations} == {(0, 1), (1, 0)}
    times = [a.created_at for a in annotations]
    assert times == sorted(times)
    assert all(a.metadata["gold"] in ("a", "b") for a in annotations)


def test_temperature_controls_accuracy() -> None:
    careful = accuracy(run(AnnotatorProfile(name="c", temperature=0.2, tie_threshold=0.0)))
    noisy = accuracy(run(AnnotatorProfile(name="n", temperature=5.0, tie_threshold=0.0)))
    assert careful > 0.85
    assert 0.45 < noisy < 0.75


def test_position_bias_of_0_6_gives_about_80_percent_left() -> None:
    annotations = run(AnnotatorProfile(name="lefty", position_bias=0.6))
    decisive = [a for a in annotations if a.judgment in ("a", "b")]
    left = np.mean([(a.judgment == "a") == (a.display_order == (0, 1)) for a in decisive])
    assert left == pytest.approx(0.8, abs=0.06)


def test_length_bias_prefers_longer_responses() -> None:
    annotations = run(AnnotatorProfile(name="long", length_bias=3.0, temperature=2.0))
    longer = [
        (a.judgment == "a") == (len(a.responses[0]) > len(a.responses[1]))
        for a in annotations
        if a.judgment in ("a", "b")
    ]
    assert np.mean(longer) > 0.75


def test_fatigue_grows_after_the_onset_and_a_break_resets_it() -> None:
    profile = AnnotatorProfile(name="t", fatigue_onset=10, fatigue_rate=0.2, break_every=30)
    annotator = SimulatedAnnotator(profile, GOLD)
    lapses = []
    for item in ITEMS[:60]:
        lapses.append(annotator.lapse())
        annotator.judge(item)
    assert lapses[:11] == [0.0] * 11
    assert lapses[29] > 0.7  # exhausted just before the break
    assert lapses[30] == 0.0  # fresh after it
    first, second = (np.datetime64(a.created_at[:19]) for a in run(profile)[29:31])
    assert (second - first) >= np.timedelta64(15, "m")


def test_spammers() -> None:
    random = run(AnnotatorProfile(name="r", spam="random"))
    adversarial = run(AnnotatorProfile(name="x", spam="adversarial", temperature=0.3))
    assert accuracy(random) == pytest.approx(0.5, abs=0.1)
    assert accuracy(adversarial) < 0.2


def test_profiles_are_validated() -> None:
    with pytest.raises(ValueError, match="position_bias"):
        AnnotatorProfile(name="p", position_bias=1.5)
    with pytest.raises(ValueError, match="name"):
        AnnotatorProfile(name=" ")


def test_assignments_cover_each_item_per_item_times() -> None:
    plan = assignments(50, 5, per_item=3, seed=0)
    counts = np.bincount([i for items in plan for i in items], minlength=50)
    assert (counts == 3).all()
    assert assignments(4, 2) != [[0, 1, 2, 3]] * 2  # sessions are shuffled
    with pytest.raises(ValueError, match="per_item"):
        assignments(5, 2, per_item=3)


def test_simulation_is_reproducible() -> None:
    first = annotate(ITEMS[:30], PLANTED, GOLD, seed=3)
    assert first == annotate(ITEMS[:30], PLANTED, GOLD, seed=3)
    assert first != annotate(ITEMS[:30], PLANTED, GOLD, seed=4)
    assert gold_label(1.0, 1.0) == "tie"


def test_annotators_answer_through_the_store(tmp_path: Path) -> None:
    with Store.open(str(tmp_path / "feedback.db")) as store:
        made = annotate_in_store(store, ITEMS[:20], PLANTED[:3], GOLD, per_item=2, seed=5)
        exported = store.export_annotations()
        counts = store.counts()
        first = exported[0]
        changed = replace(first, judgment="b" if first.judgment == "a" else "a")
        with pytest.raises(StoreError):  # one judgment per annotator and item, as for people
            store.record_annotation(changed)
    assert made == 40
    assert counts["annotators"] == 3
    expected = annotate(ITEMS[:20], PLANTED[:3], GOLD, per_item=2, seed=5)
    assert sorted(exported, key=lambda a: (a.annotator, a.item_id)) == sorted(
        expected, key=lambda a: (a.annotator, a.item_id)
    )
