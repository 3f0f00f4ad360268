"""Importing is one transaction: all records or none; duplicates are skipped, conflicts reported."""

from __future__ import annotations

from dataclasses import replace

import pytest
from store_samples import ANNOTATIONS, PAIRS, PROMPTS, RANKINGS

from rlhf.data import Demonstration, PreferencePair, Record
from rlhf.store import ImportReport, Store, StoreError

EVERYTHING: list[Record] = [*PAIRS, *RANKINGS, *ANNOTATIONS, *PROMPTS]


def test_reimporting_the_same_records_changes_nothing(store: Store) -> None:
    store.import_records(EVERYTHING)
    counts = store.counts()

    report = store.import_records(EVERYTHING)

    assert report == ImportReport(skipped_duplicates=len(EVERYTHING))
    assert store.counts() == counts
    assert store.export_annotations()[-len(ANNOTATIONS) :] == ANNOTATIONS


def test_a_conflict_in_the_middle_of_a_batch_writes_nothing(store: Store) -> None:
    store.import_records(ANNOTATIONS[:1])
    before = store.counts()
    conflicting = replace(ANNOTATIONS[0], judgment="a")
    batch: list[Record] = [*PAIRS, conflicting, *RANKINGS, *PROMPTS]

    with pytest.raises(StoreError) as caught:
        store.import_records(batch)

    message = str(caught.value)
    assert "record 5: item 'item-a', annotator 'alice'" in message
    assert "judgment (stored 'b', here 'a')" in message
    assert caught.value.problems[0][0] == len(PAIRS)
    assert store.counts() == before
    assert store.export_annotations() == ANNOTATIONS[:1]


def test_every_conflict_is_reported(store: Store) -> None:
    first = PAIRS[0]
    store.import_records([first])
    other_content = replace(first, annotator="zoe", rejected="22")  # same id, other responses
    other_strength = replace(first, strength=1)  # same item and annotator, other strength

    with pytest.raises(StoreError) as caught:
        store.import_records([other_content, other_strength])

    reasons = [reason for _, reason in caught.value.problems]
    assert len(reasons) == 2
    assert reasons[0].startswith("item 'pair-1': responses differ")
    assert "strength (stored 3, here 1)" in reasons[1]


def test_conflicts_within_one_batch_are_found(store: Store) -> None:
    twice = [PAIRS[0], replace(PAIRS[0], tie=True)]

    with pytest.raises(StoreError, match="earlier in this batch"):
        store.import_records(twice)
    assert store.counts()["items"] == 0


def test_invalid_records_are_rejected_before_writing(store: Store) -> None:
    bad = [
        PAIRS[0],
        PreferencePair(prompt="p", chosen="same", rejected="same"),
        replace(PAIRS[0], strength=9),
    ]

    with pytest.raises(StoreError) as caught:
        store.import_records(bad)

    assert [index for index, _ in caught.value.problems] == [1, 2]
    assert "rejected: identical to chosen" in str(caught.value)
    assert sum(store.counts().values()) == 0


def test_a_prompt_id_reused_for_other_text_is_a_conflict(store: Store) -> None:
    store.import_records(PROMPTS)

    with pytest.raises(StoreError, match="prompt 'story': differs"):
        store.import_records([replace(PROMPTS[0], prompt="Another story.")])


def test_a_bad_timestamp_is_reported(store: Store) -> None:
    with pytest.raises(StoreError, match="created_at: not an ISO 8601 time"):
        store.import_records([replace(ANNOTATIONS[0], created_at="yesterday")])


def test_demonstrations_are_refused_and_nothing_is_written(store: Store) -> None:
    batch: list[Record] = [*PAIRS, Demonstration(prompt="p", completion="c"), *PROMPTS]

    with pytest.raises(StoreError) as caught:
        store.import_records(batch)

    message = str(caught.value)
    assert message.startswith("1 demonstration record(s): the store holds human judgments")
    assert "not demonstrations; nothing was imported" in message
    assert sum(store.counts().values()) == 0
