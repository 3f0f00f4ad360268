"""Campaigns in the store: leases respect the overlap, answers are stored once, undo and expiry."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from rlhf.data import Annotation
from rlhf.store import Store
from rlhf.store.campaigns import CampaignItem, Lease, NewCampaign
from rlhf.store.errors import Conflict, NotFound, StoreError

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _items(n: int) -> tuple[CampaignItem, ...]:
    return tuple(
        CampaignItem(prompt=f"What is {i} + {i}?", responses=(str(2 * i), str(2 * i + 1)))
        for i in range(n)
    )


def _campaign(
    store: Store, *, items: int = 3, overlap: int = 2, annotators: Sequence[str] = ("ann", "bob")
) -> None:
    store.campaigns.create(
        NewCampaign(
            name="c1",
            instructions="Pick the **correct** sum.",
            overlap=overlap,
            lease_seconds=60,
            annotators=tuple(annotators),
            items=_items(items),
        )
    )


def _identity(k: int) -> list[int]:
    return list(range(k))


def _answer(lease: Lease, judgment: str = "a") -> Annotation:
    return Annotation(
        item_id=lease.item_id,
        annotator=lease.annotator,
        prompt=lease.prompt,
        responses=lease.responses,
        judgment=judgment,  # type: ignore[arg-type]
        display_order=lease.display_order,
        source=lease.campaign,
    )


def _label_all(store: Store, annotator: str) -> list[str]:
    seen = []
    while (lease := store.campaigns.lease("c1", annotator, NOW, _identity)) is not None:
        assert store.campaigns.answer(lease.id, _answer(lease), f"{annotator}-{lease.id}", NOW)
        seen.append(lease.item_id)
    return seen


def test_each_item_reaches_exactly_overlap_distinct_annotators(store: Store) -> None:
    _campaign(store, items=4, overlap=2, annotators=("ann", "bob", "cy"))

    seen = {name: _label_all(store, name) for name in ("ann", "bob", "cy")}

    assert all(len(set(items)) == len(items) for items in seen.values())  # never twice
    counts = [sum(item in items for items in seen.values()) for item in seen["ann"] + seen["bob"]]
    assert set(counts) == {2}
    assert sum(len(items) for items in seen.values()) == 8
    info = store.campaigns.info("c1")
    assert (info.labels, info.complete_items, info.target) == (8, 4, 8)
    assert store.campaigns.check_counts("c1") == []


def test_a_held_item_comes_back_until_answered(store: Store) -> None:
    _campaign(store)
    first = store.campaigns.lease("c1", "ann", NOW, _identity)
    again = store.campaigns.lease("c1", "ann", NOW, _identity)

    assert first is not None
    assert again is not None
    assert again.id == first.id


def test_a_retried_submission_is_stored_once(store: Store) -> None:
    _campaign(store)
    lease = store.campaigns.lease("c1", "ann", NOW, _identity)
    assert lease is not None

    assert store.campaigns.answer(lease.id, _answer(lease), "sub-1", NOW) is True
    assert store.campaigns.answer(lease.id, _answer(lease), "sub-1", NOW) is False
    with pytest.raises(Conflict, match="answered already"):
        store.campaigns.answer(lease.id, _answer(lease, "b"), "sub-2", NOW)
    assert len(store.export_annotations()) == 1


def test_a_submission_id_is_used_once(store: Store) -> None:
    _campaign(store)
    first = store.campaigns.lease("c1", "ann", NOW, _identity)
    assert first is not None
    store.campaigns.answer(first.id, _answer(first), "same", NOW)
    second = store.campaigns.lease("c1", "ann", NOW, _identity)
    assert second is not None

    with pytest.raises(Conflict, match="was used before"):
        store.campaigns.answer(second.id, _answer(second), "same", NOW)
    assert len(store.export_annotations()) == 1


def test_a_skipped_item_goes_to_someone_else_never_back(store: Store) -> None:
    _campaign(store, items=1, overlap=1)
    lease = store.campaigns.lease("c1", "ann", NOW, _identity)
    assert lease is not None
    assert store.campaigns.lease("c1", "bob", NOW, _identity) is None  # the one place is taken

    assert store.campaigns.skip(lease.id, "I cannot judge arithmetic", "skip-1", NOW)

    assert store.campaigns.lease("c1", "ann", NOW, _identity) is None
    other = store.campaigns.lease("c1", "bob", NOW, _identity)
    assert other is not None
    assert other.item_id == lease.item_id


def test_an_expired_lease_returns_the_item_to_the_pool(store: Store) -> None:
    _campaign(store, items=1, overlap=1)
    lease = store.campaigns.lease("c1", "ann", NOW, _identity)
    assert lease is not None
    later = NOW + timedelta(seconds=61)

    other = store.campaigns.lease("c1", "bob", later, _identity)

    assert other is not None
    assert other.item_id == lease.item_id
    with pytest.raises(Conflict, match="lease expired"):
        store.campaigns.answer(lease.id, _answer(lease), "late", later)
    assert store.campaigns.check_counts("c1") == []


def test_undo_takes_the_last_answer_back_and_offers_it_again(store: Store) -> None:
    _campaign(store)
    lease = store.campaigns.lease("c1", "ann", NOW, lambda k: [1, 0])
    assert lease is not None
    assert lease.display_order == (1, 0)
    store.campaigns.answer(lease.id, _answer(lease), "s1", NOW)
    store.campaigns.lease("c1", "ann", NOW, _identity)  # holds the next item meanwhile

    undone = store.campaigns.undo("c1", "ann", NOW + timedelta(seconds=1))

    assert (undone.id, undone.status, undone.display_order) == (lease.id, "leased", (1, 0))
    assert store.export_annotations() == []
    again = store.campaigns.lease("c1", "ann", NOW + timedelta(seconds=2), _identity)
    assert again is not None
    assert again.id == lease.id
    assert store.campaigns.answer(lease.id, _answer(lease, "b"), "s2", NOW)
    assert [a.judgment for a in store.export_annotations()] == ["b"]


def test_undo_with_nothing_to_undo(store: Store) -> None:
    _campaign(store)
    with pytest.raises(NotFound, match="no answer to undo"):
        store.campaigns.undo("c1", "ann", NOW)


def test_only_members_get_items(store: Store) -> None:
    _campaign(store)
    with pytest.raises(NotFound, match="does not take part"):
        store.campaigns.lease("c1", "mallory", NOW, _identity)
    store.campaigns.add_annotators("c1", ["mallory"])
    assert store.campaigns.lease("c1", "mallory", NOW, _identity) is not None


def test_bad_campaigns_are_refused(store: Store) -> None:
    _campaign(store)
    with pytest.raises(Conflict, match="exists already"):
        _campaign(store)
    bad = NewCampaign(name="c2", overlap=0, lease_seconds=60, annotators=("a",), items=())
    with pytest.raises(StoreError, match=r"overlap: 0.*items: none"):
        store.campaigns.create(bad)
    # items obey the data contract's text rules (PostgreSQL cannot even store a NUL)
    texts = (CampaignItem(prompt="Sum?", responses=("4", "5\x00")),
             CampaignItem(prompt="Sum?", responses=(" ", "5")))  # fmt: skip
    bad = NewCampaign(name="c3", overlap=1, lease_seconds=60, annotators=("a",), items=texts)
    with pytest.raises(StoreError, match=r"items\[0\]\.responses\[1\]: contains a NUL character"
                                         r".*items\[1\]\.responses\[0\]: empty"):  # fmt: skip
        store.campaigns.create(bad)
    assert [c.name for c in store.campaigns.all()] == ["c1"]  # nothing half-written


def test_export_by_campaign(store: Store) -> None:
    _campaign(store)
    _label_all(store, "ann")

    assert len(store.export_annotations(campaign="c1")) == 3
    assert len(store.export_pairs(campaign="c1")) == 3
    assert len(store.export_prompts(campaign="c1")) == 3
    with pytest.raises(NotFound):
        store.export_pairs(campaign="nope")


def test_concurrent_annotators_never_exceed_the_overlap(store: Store) -> None:
    names = [f"a{i}" for i in range(8)]
    _campaign(store, items=10, overlap=3, annotators=names)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            _label_all(store, name)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert store.campaigns.info("c1").labels == 30
    assert store.campaigns.check_counts("c1") == []
