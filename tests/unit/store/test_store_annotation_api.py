"""The interface the annotation web app and simulated annotators use: annotators, items, judgments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from rlhf.data import Annotation, Message
from rlhf.store import Provenance, Store, StoreError
from rlhf.store.schema import AnnotatorRow, AssignmentRow, ItemRow, ResponseRow

PROMPT = "Explain gravity in one sentence."
RESPONSES = ("Mass attracts mass.", "Things fall down.", "Apples.")


def _judgment(item_id: str, annotator: str = "sim-1", judgment: str = "a") -> Annotation:
    return Annotation(
        item_id=item_id,
        annotator=annotator,
        prompt=PROMPT,
        responses=RESPONSES[:2],
        judgment=judgment,  # type: ignore[arg-type]
        display_order=(1, 0),
        seconds=3.0,
    )


def test_add_annotator_is_get_or_create(store: Store) -> None:
    first = store.add_annotator("alice")

    assert store.add_annotator("alice") == first
    assert store.add_annotator("bob") != first
    assert store.counts()["annotators"] == 2
    with pytest.raises(StoreError, match="empty"):
        store.add_annotator(" ")


def test_add_item_keeps_provenance(store: Store, store_engine: Engine) -> None:
    provenance = [
        Provenance(model="tiny-gpt", checkpoint="step-100", sampling={"temperature": 0.7}),
        Provenance(model="tiny-gpt", checkpoint="step-200", sampling={"top_p": 0.9}),
        None,
    ]
    item_id = store.add_item(
        PROMPT, RESPONSES, provenance=provenance, source="sim", metadata={"k": 1}
    )

    assert item_id.startswith("item-")
    with Session(store_engine) as session:
        rows = session.scalars(select(ResponseRow).order_by(ResponseRow.id)).all()
        assert [(r.model, r.checkpoint, r.sampling) for r in rows] == [
            ("tiny-gpt", "step-100", {"temperature": 0.7}),
            ("tiny-gpt", "step-200", {"top_p": 0.9}),
            (None, None, None),
        ]
        item = session.scalars(select(ItemRow)).one()
        assert (item.kind, item.source, item.meta) == ("ranking", "sim", {"k": 1})


def test_add_item_twice_returns_the_same_item(store: Store) -> None:
    conversation = (Message(role="user", content=PROMPT),)
    first = store.add_item(conversation, RESPONSES[:2], external_id="q-1")

    assert store.add_item(conversation, RESPONSES[:2], external_id="q-1") == first
    assert store.add_item(PROMPT, RESPONSES) == store.add_item(PROMPT, RESPONSES)
    assert store.counts()["items"] == 2
    with pytest.raises(StoreError, match="'q-1': already stored with another prompt"):
        store.add_item(conversation, RESPONSES[1:], external_id="q-1")


def test_add_item_checks_its_texts(store: Store) -> None:
    with pytest.raises(StoreError, match=r"responses\[1\]: identical to responses\[0\]"):
        store.add_item(PROMPT, ["same", "same"])
    with pytest.raises(StoreError, match="provenance: 1 entries for 2 responses"):
        store.add_item(PROMPT, RESPONSES[:2], provenance=[None])


def test_record_annotation_stores_once(store: Store) -> None:
    item_id = store.add_item(PROMPT, RESPONSES[:2])

    assert store.record_annotation(_judgment(item_id)) is True
    assert store.record_annotation(_judgment(item_id)) is False
    assert store.record_annotation(_judgment(item_id, annotator="sim-2", judgment="tie")) is True
    with pytest.raises(StoreError, match=r"annotator 'sim-1'.*judgment"):
        store.record_annotation(_judgment(item_id, judgment="b"))
    assert [a.judgment for a in store.export_annotations()] == ["a", "tie"]


def test_record_annotation_rejects_an_item_it_does_not_match(store: Store) -> None:
    item_id = store.add_item(PROMPT, RESPONSES[1:])

    with pytest.raises(StoreError, match="responses differ"):
        store.record_annotation(_judgment(item_id))
    with pytest.raises(StoreError, match="judgment: give exactly one"):
        store.record_annotation(_judgment(item_id, judgment=None))  # type: ignore[arg-type]


def test_record_annotation_completes_the_assignment(store: Store, store_engine: Engine) -> None:
    item_id = store.add_item(PROMPT, RESPONSES[:2])
    store.add_annotator("sim-1")
    with Session(store_engine) as session, session.begin():
        item = session.scalars(select(ItemRow.id)).one()
        annotator = session.scalars(select(AnnotatorRow.id)).one()
        lease = {"item_id": item, "annotator_id": annotator, "leased_at": datetime.now(UTC)}
        session.execute(insert(AssignmentRow).values(status="leased", **lease))

    store.record_annotation(_judgment(item_id))

    with Session(store_engine) as session:
        assert session.scalars(select(AssignmentRow.status)).one() == "done"
