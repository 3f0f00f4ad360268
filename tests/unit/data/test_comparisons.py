"""Records become comparisons: pairs, ties, rankings (ties, unranked), annotations; flat indexes."""

from __future__ import annotations

import pytest

from rlhf.data import Annotation, PreferencePair, PromptRecord, Ranking
from rlhf.data.comparisons import ComparedPair, comparisons_from_records, index_comparisons
from rlhf.errors import UserError


def test_pair_and_tie() -> None:
    records = [
        PreferencePair(prompt="p", chosen="a", rejected="b", strength=3),
        PreferencePair(prompt="p", chosen="c", rejected="d", tie=True),
    ]
    comparisons, dropped = comparisons_from_records(records)
    assert dropped == 0
    assert comparisons[0].pairs == (ComparedPair(0, 1, strength=3),)
    assert comparisons[0].order == (0, 1)
    assert comparisons[1].pairs == (ComparedPair(0, 1, tie=True),)
    assert comparisons[1].order is None


def test_ranking_gives_every_implied_pair_ties_and_no_order_when_tied() -> None:
    ranking = Ranking(prompt="p", responses=("w", "x", "y", "z"), ranks=(2, 1, 2, None))
    (comparison,), _ = comparisons_from_records([ranking])
    decisive = {(p.better, p.worse) for p in comparison.pairs if not p.tie}
    assert decisive == {(1, 0), (1, 2)}
    assert [(p.better, p.worse) for p in comparison.pairs if p.tie] == [(0, 2)]
    assert comparison.order is None  # two responses share rank 2


def test_strict_ranking_keeps_its_order() -> None:
    ranking = Ranking(prompt="p", responses=("w", "x", "y"), ranks=(3, 1, 2))
    (comparison,), _ = comparisons_from_records([ranking])
    assert comparison.order == (1, 2, 0)
    assert len(comparison.pairs) == 3


def test_annotations_a_b_tie_and_both_bad() -> None:
    def annotation(judgment: str) -> Annotation:
        return Annotation(
            item_id="i",
            annotator="x",
            prompt="p",
            responses=("r0", "r1"),
            judgment=judgment,  # type: ignore[arg-type]
        )

    comparisons, dropped = comparisons_from_records(
        [annotation("a"), annotation("b"), annotation("tie"), annotation("both_bad")]
    )
    assert dropped == 1
    assert [c.pairs[0] for c in comparisons] == [
        ComparedPair(0, 1),
        ComparedPair(1, 0),
        ComparedPair(0, 1, tie=True),
    ]


def test_prompt_records_are_refused() -> None:
    with pytest.raises(UserError, match="not prompt records"):
        comparisons_from_records([PromptRecord(prompt="p")])


def test_index_scores_each_distinct_response_once() -> None:
    records = [
        Ranking(prompt="p", responses=("a", "b", "c"), ranks=(1, 2, 3)),
        PreferencePair(prompt="p", chosen="a", rejected="c"),
        PreferencePair(prompt="q", chosen="a", rejected="c"),
    ]
    comparisons, _ = comparisons_from_records(records)
    index = index_comparisons(comparisons)
    assert index.items == [("p", "a"), ("p", "b"), ("p", "c"), ("q", "a"), ("q", "c")]
    assert index.pairs == 5
    assert list(zip(index.better, index.worse, strict=True))[-2:] == [(0, 2), (3, 4)]
    assert index.orders == [[0, 1, 2], [0, 2], [3, 4]]
    assert index.pair_comparison == [0, 0, 0, 1, 2]
