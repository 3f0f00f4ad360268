"""Annotations -> label table: codes, ties kept, left/right from display_order, session order."""

from __future__ import annotations

import numpy as np
import pytest
from quality_samples import annotation

from rlhf.quality.labels import BOTH_BAD, MISSING, TIE, A, B, LabelError, LabelTable


def test_codes_keep_ties_and_both_bad_as_labels() -> None:
    table = LabelTable.from_annotations(
        [
            annotation("i1", "ann", "a"),
            annotation("i1", "bob", "tie"),
            annotation("i2", "ann", "both_bad"),
            annotation("i2", "cy", "b"),
        ]
    )
    assert table.annotators == ("ann", "bob", "cy")
    assert [item.id for item in table.items] == ["i1", "i2"]
    assert table.codes.tolist() == [[A, TIE, MISSING], [BOTH_BAD, MISSING, B]]
    assert table.used_categories == ("a", "b", "tie", "both_bad")


def test_ordinal_scale_puts_tie_between_b_and_a_and_drops_both_bad() -> None:
    table = LabelTable.from_annotations(
        [
            annotation("i", name, j)
            for name, j in zip("wxyz", ["a", "b", "tie", "both_bad"], strict=True)
        ]
    )
    assert table.ordinal_codes().tolist() == [[2, 0, 1, MISSING]]


def test_left_comes_from_display_order_and_defaults_to_a() -> None:
    table = LabelTable.from_annotations(
        [
            annotation("i1", "ann", "a", display_order=(1, 0)),
            annotation("i2", "ann", "a", display_order=(0, 1)),
            annotation("i3", "ann", "b"),
        ]
    )
    assert table.judgments.left.tolist() == [1, 0, 0]
    assert table.judgments.left_known.tolist() == [True, True, False]


def test_session_order_follows_created_at_when_every_annotation_has_one() -> None:
    times = ["2026-01-01T10:05:00+00:00", "2026-01-01T10:00:00+00:00", "2026-01-01T10:10:00"]
    table = LabelTable.from_annotations(
        [annotation(f"i{k}", "ann", "a", created_at=t) for k, t in enumerate(times)]
    )
    assert table.ordered_by_time
    assert table.judgments.position.tolist() == [1, 0, 2]
    assert table.judgments.of(0).tolist() == [1, 0, 2]


def test_session_order_is_the_order_given_without_timestamps() -> None:
    table = LabelTable.from_annotations(
        [annotation("i1", "ann"), annotation("i2", "bob"), annotation("i3", "ann", seconds=4.0)]
    )
    assert not table.ordered_by_time
    assert table.judgments.position.tolist() == [0, 0, 1]
    assert np.isnan(table.judgments.seconds[0])
    assert table.judgments.seconds[2] == 4.0


def test_rankings_are_left_out_and_counted() -> None:
    table = LabelTable.from_annotations(
        [
            annotation("i1", "ann"),
            annotation("r", "ann", responses=("x", "y", "z"), ranks=(1, 2, 3)),
        ]
    )
    assert table.skipped == 1
    assert table.codes.shape == (1, 1)


def test_gold_comes_from_metadata() -> None:
    table = LabelTable.from_annotations(
        [annotation("i1", "ann", metadata={"gold": "b"}), annotation("i2", "ann")]
    )
    assert table.gold.tolist() == [B, MISSING]


def test_the_same_annotator_twice_on_one_item_is_an_error_that_says_where() -> None:
    annotations = [annotation("i1", "ann", "a"), annotation("i1", "ann", "b")]
    with pytest.raises(LabelError, match=r"f\.jsonl:7: annotator 'ann' judged item 'i1' already"):
        LabelTable.from_annotations(annotations, ["f.jsonl:3", "f.jsonl:7"])


def test_one_item_id_with_two_contents_is_an_error() -> None:
    annotations = [annotation("i1", "ann"), annotation("i1", "bob", responses=("p", "q"))]
    with pytest.raises(LabelError, match="annotation 2: item_id 'i1' was given earlier"):
        LabelTable.from_annotations(annotations)


def test_lengths_count_characters_of_each_response() -> None:
    table = LabelTable.from_annotations([annotation("i", "ann", responses=("ab", "abcd"))])
    assert table.lengths.tolist() == [[2.0, 4.0]]
