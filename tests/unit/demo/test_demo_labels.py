"""The demo's labelling: the panel works through a real store, and agreement with gold is counted
like a hand count."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rlhf.data.records import PreferencePair
from rlhf.demo.labels import campaign_annotations, consensus, gold_agreement, split_items
from rlhf.demo.panel import PANEL, label_campaign
from rlhf.demo.task import gold
from rlhf.store import Store
from rlhf.store.campaigns import CampaignItem

Q = "What is 2 plus 3?"
GOOD, WRONG, PADDED = (
    "Sure! The answer is 5.",
    "The answer is 7.",
    "Let me think about this carefully. The answer is 5.",
)


def pair(chosen: str, rejected: str, *, tie: bool = False, id: str = "p") -> PreferencePair:
    return PreferencePair(prompt=Q, chosen=chosen, rejected=rejected, tie=tie, id=id)


def test_gold_agreement_counts_like_a_hand_count() -> None:
    pairs = [
        pair(GOOD, WRONG),  # gold agrees
        pair(WRONG, GOOD),  # gold disagrees
        pair(GOOD, PADDED, tie=True),  # called even where gold prefers one: half
        pair(WRONG, "The answer is 9."),  # both wrong, same gold: not counted
    ]
    assert gold([Q, Q], [WRONG, "The answer is 9."]) == [0.0, 0.0]
    agreement = gold_agreement(pairs)
    assert (agreement.rate, agreement.pairs) == (pytest.approx(1.5 / 3), 3)
    # scores that prefer `chosen` everywhere agree where the labels do, and on the tie too
    scored = gold_agreement(pairs, lambda ps: np.ones(len(ps)))
    assert (scored.rate, scored.pairs) == (pytest.approx(2 / 3), 3)
    assert np.isnan(gold_agreement([pairs[3]]).rate)


def test_split_items_is_seeded_and_disjoint() -> None:
    pairs = [pair(GOOD, WRONG, id=str(i)) for i in range(50)]
    training, held_out = split_items(pairs, 0.2, seed=3)
    assert len(held_out) == 10
    assert len(training) == 40
    assert {p.id for p in training}.isdisjoint(p.id for p in held_out)
    assert split_items(pairs, 0.2, seed=3) == (training, held_out)
    assert split_items(pairs, 0.2, seed=4) != (training, held_out)


def test_the_panel_labels_a_campaign_through_the_store(tmp_path: Path) -> None:
    responses = [(GOOD, WRONG), (PADDED, GOOD), (WRONG, PADDED), (GOOD, "Ugh, obviously 5")]
    items = [CampaignItem(prompt=Q, responses=r, id=f"c/{i}") for i, r in enumerate(responses * 5)]
    with Store.open(f"sqlite:///{tmp_path / 'feedback.db'}") as store:
        answers = label_campaign(store, "c", items, lambda p, r: gold([p], [r])[0],
                                 overlap=3, day=1, seed=0)  # fmt: skip
        stored = campaign_annotations(store, "c")
        pairs = consensus(store, "c", "dawid-skene")
    assert answers == len(stored) == 3 * len(items)
    per_item = Counter(a.item_id for a in stored)
    assert set(per_item.values()) == {3}  # exactly `overlap` annotators per item
    assert {a.annotator for a in stored} <= {p.name for p in PANEL}
    assert len({(a.item_id, a.annotator) for a in stored}) == len(stored)  # nobody twice
    assert all(a.display_order in ((0, 1), (1, 0)) and a.seconds for a in stored)
    ids = [p.id for p in pairs]
    assert len(ids) == len(set(ids))
    assert set(ids) <= {item.id for item in items}
    assert gold_agreement(pairs).rate > 0.5  # the panel's consensus is better than a coin
