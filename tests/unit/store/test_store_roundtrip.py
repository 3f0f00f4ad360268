"""Records go into the store and come back out unchanged, on SQLite and on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from store_samples import ANNOTATIONS, PAIRS, PROMPTS, RANKINGS

from rlhf.data import Annotation, PreferencePair, load_records
from rlhf.store import ImportReport, Store


def test_pairs_export_identical_to_the_imported_records(store: Store) -> None:
    report = store.import_records(PAIRS)

    assert report == ImportReport(prompts=3, items=4, annotations=4, skipped_duplicates=0)
    assert store.export_pairs() == PAIRS
    assert store.export_rankings() == []


def test_rankings_round_trip(store: Store) -> None:
    store.import_records(RANKINGS)

    assert store.export_rankings() == RANKINGS
    assert store.export_pairs() == []


def test_annotations_round_trip_with_every_field(store: Store) -> None:
    store.import_records(ANNOTATIONS)

    assert store.export_annotations() == ANNOTATIONS


def test_prompts_round_trip(store: Store) -> None:
    report = store.import_records(PROMPTS)

    assert report.prompts == len(PROMPTS)
    assert store.export_prompts() == PROMPTS


def test_pairs_export_as_annotations_of_unknown_annotator(store: Store) -> None:
    store.import_records(PAIRS[1:2])

    (annotation,) = store.export_annotations()
    assert annotation.annotator == "unknown"
    assert annotation.judgment == "a"
    assert annotation.responses == (PAIRS[1].chosen, PAIRS[1].rejected)
    assert annotation.item_id.startswith("item-")


def test_annotations_export_as_pairs_and_rankings(store: Store) -> None:
    store.import_records(ANNOTATIONS)

    (pair,) = store.export_pairs()  # the both_bad judgment prefers nothing: left out
    first = ANNOTATIONS[0]
    assert (pair.chosen, pair.rejected) == (first.responses[1], first.responses[0])
    assert (pair.id, pair.annotator, pair.strength, pair.source) == (
        "item-a",
        "alice",
        2,
        "campaign-1",
    )
    (ranking,) = store.export_rankings()
    assert ranking.ranks == ANNOTATIONS[2].ranks
    assert ranking.responses == ANNOTATIONS[2].responses


def test_opposite_judgments_of_one_pair_share_the_item(store: Store) -> None:
    """Two annotators, same pair id, each preferring another response: one item, `a` and `b`."""
    first = PAIRS[0]
    second = replace(first, chosen=first.rejected, rejected=first.chosen, annotator="bob")

    report = store.import_records([first, second])

    assert (report.items, report.annotations) == (1, 2)
    assert [a.judgment for a in store.export_annotations()] == ["a", "b"]
    assert store.export_pairs() == [first, second]


def test_items_share_prompts_and_responses(store: Store) -> None:
    prompt = "Which is better?"
    pairs = [
        PreferencePair(prompt=prompt, chosen="one", rejected="two"),
        PreferencePair(prompt=prompt, chosen="one", rejected="three"),
    ]
    store.import_records(pairs)

    counts = store.counts()
    assert (counts["prompts"], counts["responses"], counts["items"]) == (1, 3, 2)
    assert store.export_pairs() == pairs


def test_timestamps_come_back_in_utc(store: Store) -> None:
    annotation = replace(ANNOTATIONS[0], created_at="2024-05-01T14:00:00+02:00")
    store.import_records([annotation])

    (exported,) = store.export_annotations()
    assert exported.created_at == "2024-05-01T12:00:00+00:00"


def test_data_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "feedback.db")  # a bare path means SQLite
    with Store.open(path) as store:
        store.import_records(ANNOTATIONS)
    with Store.open(path) as store:
        assert store.export_annotations() == ANNOTATIONS
        assert store.counts()["annotators"] == 2


def test_pandalm_testset_round_trips(store: Store, shared_data: Path) -> None:
    """Real data: 999 items with three annotators each; the export equals the loaded records."""
    path = shared_data / "pandalm-testset" / "testset-v1.json"
    records = load_records(path)
    assert all(isinstance(r, Annotation) for r in records)

    report = store.import_records(records)

    assert (report.items, report.annotations, report.skipped_duplicates) == (999, 2997, 0)
    counts = store.counts()
    assert (counts["annotators"], counts["items"], counts["annotations"]) == (3, 999, 2997)
    assert counts["item_responses"] == 2 * 999
    assert store.export_annotations() == records
