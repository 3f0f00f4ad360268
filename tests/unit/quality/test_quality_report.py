"""Consensus pairs with their confidence, the JSON summary, and the self-contained HTML report."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from quality_samples import annotation

from rlhf.data import check_record, record_to_json
from rlhf.quality.aggregate import AGGREGATORS, consensus_pairs
from rlhf.quality.analysis import analyze
from rlhf.quality.consensus import Consensus
from rlhf.quality.labels import BOTH_BAD, MISSING, TIE, A, B, LabelTable
from rlhf.quality.report import render
from rlhf.quality.simulate import PLANTED, annotate, synthetic_items


@pytest.fixture(scope="module")
def table() -> LabelTable:
    items, gold = synthetic_items(120, seed=2)
    return LabelTable.from_annotations(annotate(items, PLANTED, gold, seed=2))


def small_table() -> LabelTable:
    votes = {"i1": "aab", "i2": "ttt", "i3": "kkk", "i4": "ab"}
    names = {"a": "a", "b": "b", "t": "tie", "k": "both_bad"}
    return LabelTable.from_annotations(
        [
            annotation(item, f"ann{k}", names[v])
            for item, row in votes.items()
            for k, v in enumerate(row)
        ]
    )


def test_pairs_carry_the_consensus_and_its_confidence() -> None:
    table = small_table()
    consensus = Consensus(
        labels=np.array([A, TIE, BOTH_BAD, MISSING]),
        confidence=np.array([0.9, 0.8, 1.0, np.nan]),
        prefer_a=np.array([0.9, 0.5, np.nan, np.nan]),
    )
    result = consensus_pairs(table, consensus, "test")
    assert result.dropped == 2  # both_bad, and no consensus
    first, tie = result.pairs
    assert first.chosen == table.items[0].responses[0]
    assert first.confidence == 0.9
    assert not first.tie
    assert first.metadata["quality"]["margin"] == pytest.approx(math.log(9))
    assert first.metadata["quality"]["votes"] == {"a": 2, "b": 1}
    assert tie.tie
    assert tie.confidence == 0.5
    assert all(check_record(p) == [] for p in result.pairs)


def test_a_b_winner_is_chosen_with_its_own_probability() -> None:
    table = small_table()
    consensus = Consensus(np.array([B, B, B, B]), np.full(4, 0.7), np.full(4, 0.3))
    pair = consensus_pairs(table, consensus, "test").pairs[0]
    assert pair.chosen == table.items[0].responses[1]
    assert pair.confidence == pytest.approx(0.7)


@pytest.mark.parametrize("method", list(AGGREGATORS))
def test_every_aggregator_gives_valid_pairs(method: str) -> None:
    table = small_table()
    result = consensus_pairs(table, AGGREGATORS[method](table), method)
    labels = {
        p.id: ("tie" if p.tie else "a" if p.chosen == p.prompt else "?") for p in result.pairs
    }
    assert set(labels) <= {"i1", "i2", "i4"}
    assert "i3" not in labels  # everyone said both bad: no preference to train on
    for pair in result.pairs:
        assert check_record(pair) == []
        assert pair.confidence is not None
        assert 0.0 <= pair.confidence <= 1.0
        json.dumps(record_to_json(pair), allow_nan=False)


def test_summary_has_the_promised_keys(table: LabelTable) -> None:
    summary = analyze(table, resamples=20).summary()
    assert set(summary["cohen_kappa"]) >= {"steady-1|steady-2", "tired|spammer"}
    assert isinstance(summary["fleiss_kappa"], float)
    assert isinstance(summary["krippendorff_alpha"], float)
    assert summary["annotators"]["spammer"]["flags"] == ["too_fast", "spammer"]
    assert summary["annotators"]["lefty"]["position_bias"]["p_value"] < 0.01
    assert summary["consensus"]["dawid-skene"]["gold_items"] == 120
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_report_is_self_contained_html_with_charts(table: LabelTable) -> None:
    html = render(analyze(table, resamples=20))
    assert html.startswith("<!DOCTYPE html>")
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', html)) == 4
    assert "http://" not in html
    assert "https://" not in html
    for heading in ("Agreement", "Annotators", "Findings", "Consensus"):
        assert f"<h2>{heading}</h2>" in html


def test_report_escapes_every_string_from_the_data() -> None:
    evil = '<script>alert("x")</script>'
    table = LabelTable.from_annotations(
        [annotation(f"i{k}", name, "ab"[k % 2]) for k in range(30) for name in (evil, "ann & co")]
    )
    html = render(analyze(table, resamples=10), title=f"report of {evil}")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "ann &amp; co" in html
