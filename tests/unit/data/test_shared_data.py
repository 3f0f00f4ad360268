"""Every file in ../shared/data loads with the counts its README gives, and round-trips exactly."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from rlhf.data import Annotation, PreferencePair, read_file, write_records
from rlhf.data.files import SourceObject, read_objects

HH_SPLITS = {  # records, chosen == rejected, single-turn (README of hh-rlhf)
    "harmless-base": (2312, 0, 662),
    "helpful-online": (1137, 2, 374),
    "helpful-rejection-sampled": (2749, 32, 876),
}
PANDALM = "pandalm-testset/testset-v1.json"
SUMMARIZE = "summarize-from-feedback/comparisons/batch13.json"


@pytest.mark.parametrize("split", HH_SPLITS)
def test_hh_rlhf_counts(shared_data: Path, split: str) -> None:
    records, identical, single_turn = HH_SPLITS[split]
    result = read_file(shared_data / "hh-rlhf" / split / "test.jsonl.gz")
    assert result.format is not None
    assert result.format.name == "hh"
    pairs = [r for r in result.records if isinstance(r, PreferencePair)]
    assert len(pairs) == records
    assert sum(p.chosen == p.rejected for p in pairs) == identical
    human_turns = [sum(m.role == "user" for m in (*p.prompt, *p.chosen)) for p in pairs]  # type: ignore[misc]
    assert human_turns.count(1) == single_turn
    # the identical pairs are reported as problems, so they never reach training
    assert sum(p.reason == "identical to chosen" for p in result.problems) == identical


def test_pandalm_counts(shared_data: Path) -> None:
    result = read_file(shared_data / PANDALM)
    assert result.problems == []
    annotations = [r for r in result.records if isinstance(r, Annotation)]
    assert len(annotations) == 3 * 999
    by_item: dict[str, list[str]] = {}
    for a in annotations:
        by_item.setdefault(a.item_id, []).append(a.judgment or "")
    assert len(by_item) == 999
    assert sum(len(set(v)) == 1 for v in by_item.values()) == 879
    assert sum("tie" in v for v in by_item.values()) == 136
    labels = Counter((a.annotator, a.judgment) for a in annotations)
    assert [labels[("annotator1", j)] for j in ("a", "b", "tie")] == [427, 475, 97]
    assert [labels[("annotator2", j)] for j in ("a", "b", "tie")] == [417, 466, 116]
    assert [labels[("annotator3", j)] for j in ("a", "b", "tie")] == [411, 475, 113]


def test_summarize_from_feedback_counts(shared_data: Path) -> None:
    result = read_file(shared_data / SUMMARIZE)
    assert result.problems == []
    annotations = [r for r in result.records if isinstance(r, Annotation)]
    assert len(annotations) == 1097
    per_item = Counter(a.item_id for a in annotations)
    assert len(per_item) == 905
    multi = [n for n in per_item.values() if n > 1]
    assert (len(multi), sum(multi), max(multi)) == (40, 232, 11)
    assert len({a.annotator for a in annotations}) == 27
    splits = Counter(a.metadata["summarize"]["split"] for a in annotations)
    assert splits == {"valid2": 832, "valid1": 265}


ROUND_TRIPS = [
    ("hh-rlhf/harmless-base/test.jsonl.gz", "hh"),
    ("hh-rlhf/helpful-rejection-sampled/test.jsonl.gz", "hh"),
    (PANDALM, "pandalm"),
    (SUMMARIZE, "summarize"),
]


@pytest.mark.parametrize("container", ["jsonl", "json.gz", "parquet"])
@pytest.mark.parametrize(("name", "fmt"), ROUND_TRIPS, ids=[f for _, f in ROUND_TRIPS])
def test_round_trip_through_rlhf_is_exact(
    shared_data: Path, tmp_path: Path, name: str, fmt: str, container: str
) -> None:
    source = shared_data / name
    original = [o.value for o in read_objects(source) if isinstance(o, SourceObject)]
    records = read_file(source).records
    canonical = tmp_path / f"canonical.{container}"
    write_records(records, canonical, format="rlhf")
    back = tmp_path / f"back.{container}"
    write_records(read_file(canonical).records, back, format=fmt)
    assert [o.value for o in read_objects(back) if isinstance(o, SourceObject)] == original
