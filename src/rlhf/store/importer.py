"""Writing records into the store inside one session: get-or-create, duplicates and conflicts.

Every judgment record becomes an `Annotation` first (`as_annotation`): a pair is an item with
responses `(chosen, rejected)` judged `a` (or `tie`); a ranking is an item judged by ranks; a record
without an id names its item by a content hash, and one without an annotator is by `unknown`. The
`Importer` then resolves items, prompts, responses and annotators, reading what the batch needs in
a few queries up front and keeping what it creates, so a batch of thousands costs a handful of
round trips. It collects every conflict instead of stopping at the first; the caller raises them
all (see `Importer.finish`) and the transaction rolls back, so nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from rlhf.data.records import (
    Annotation,
    Judgment,
    PreferencePair,
    PromptRecord,
    Ranking,
    Text,
)
from rlhf.store.codec import TextJSON, annotation_values, as_annotation, item_json, text_hash
from rlhf.store.contents import Contents, Provenance, in_chunks
from rlhf.store.errors import StoreError
from rlhf.store.schema import AnnotationRow, AnnotatorRow, ItemResponseRow, ItemRow

SWAPPED: dict[Judgment, Judgment] = {"a": "b", "b": "a", "tie": "tie", "both_bad": "both_bad"}


@dataclass
class ImportReport:
    """What one import added, and how many of its records were already stored."""

    prompts: int = 0
    items: int = 0
    annotations: int = 0
    skipped_duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def __str__(self) -> str:
        added = f"{self.prompts} prompts, {self.items} items, {self.annotations} annotations added"
        return f"{added}; {self.skipped_duplicates} duplicates skipped"


def item_content(row: ItemRow) -> tuple[TextJSON, list[TextJSON]]:
    """The prompt and responses of a stored item as canonical JSON."""
    return row.prompt.content, [entry.response.content for entry in row.entries]


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Importer:
    """Adds records to an open session; `finish` raises what conflicted or returns the report."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.report = ImportReport()
        self.problems: list[tuple[int, str]] = []
        self._annotators: dict[str, AnnotatorRow] = {}
        self._items: dict[str, ItemRow] = {}
        self.contents = Contents(session)
        self._annotations: dict[tuple[str, str], AnnotationRow] = {}

    # --- reading what the batch needs ------------------------------------------------------------

    def prefetch(self, annotations: Sequence[Annotation], prompts: Sequence[PromptRecord]) -> None:
        """Load the stored annotators, items, annotations and prompts the batch refers to."""
        self.load_annotators({a.annotator for a in annotations})
        self.load_items({a.item_id for a in annotations})
        texts = [a.prompt for a in annotations] + [p.prompt for p in prompts]
        self.contents.load_prompts({text_hash(t) for t in texts}, {p.id for p in prompts if p.id})

    def load_annotators(self, names: set[str]) -> None:
        for chunk in in_chunks(names):
            query = select(AnnotatorRow).where(AnnotatorRow.name.in_(chunk))
            self._annotators.update((row.name, row) for row in self.session.scalars(query))

    def load_items(self, external_ids: set[str]) -> None:
        entries = selectinload(ItemRow.entries).joinedload(ItemResponseRow.response)
        for chunk in in_chunks(external_ids):
            query = select(ItemRow).where(ItemRow.external_id.in_(chunk))
            query = query.options(joinedload(ItemRow.prompt), entries)
            self._items.update((row.external_id, row) for row in self.session.scalars(query))
            query_annotations = (
                select(AnnotationRow)
                .join(ItemRow)
                .where(ItemRow.external_id.in_(chunk))
                .options(joinedload(AnnotationRow.annotator))
            )
            for row in self.session.scalars(query_annotations):
                self._annotations[(row.item.external_id, row.annotator.name)] = row

    # --- adding ----------------------------------------------------------------------------------

    def add_prompt(self, index: int, record: PromptRecord) -> None:
        """A prompt record: new, an identical duplicate, or a conflict with its stored id."""
        outcome = self.contents.add_record(record)
        if outcome == "duplicate":
            self.report.skipped_duplicates += 1
        elif outcome == "conflict":
            reason = "differs from the prompt stored (or earlier in this batch) under this id"
            self.problems.append((index, f"prompt {record.id!r}: {reason}"))

    def add_judgment(self, index: int, record: PreferencePair | Ranking | Annotation) -> None:
        """A pair, ranking or annotation: get-or-create its item, then add its annotation."""
        annotation = as_annotation(record)
        item, swapped = self._resolve_item(index, annotation, isinstance(record, PreferencePair))
        if item is None:
            return
        if swapped:
            assert annotation.judgment is not None
            responses = annotation.responses[::-1]
            annotation = replace(
                annotation, responses=responses, judgment=SWAPPED[annotation.judgment]
            )
        confidence = record.confidence if isinstance(record, PreferencePair) else None
        try:
            values = annotation_values(annotation, confidence)
        except ValueError as error:
            self.problems.append((index, f"created_at: not an ISO 8601 time ({error})"))
            return
        self._add_annotation(index, annotation, item, values)

    def _add_annotation(
        self, index: int, annotation: Annotation, item: ItemRow, values: dict[str, Any]
    ) -> None:
        key = (annotation.item_id, annotation.annotator)
        existing = self._annotations.get(key)
        if existing is None:
            row = AnnotationRow(item=item, annotator=self.annotator(annotation.annotator), **values)
            self.session.add(row)
            self._annotations[key] = row
            self.report.annotations += 1
            return
        differ = [
            f"{name} (stored {_short(getattr(existing, name))}, here {_short(value)})"
            for name, value in values.items()
            if getattr(existing, name) != value
        ]
        if not differ:
            self.report.skipped_duplicates += 1
            return
        where = f"item {annotation.item_id!r}, annotator {annotation.annotator!r}"
        reason = "conflicts with the annotation stored (or earlier in this batch): "
        reason += f"{'; '.join(differ)}; an annotator judges an item once"
        self.problems.append((index, f"{where}: {reason}"))

    def annotator(self, name: str) -> AnnotatorRow:
        """The annotator called `name`, created when new."""
        row = self._annotators.get(name)
        if row is None:
            row = AnnotatorRow(name=name)
            self.session.add(row)
            self._annotators[name] = row
        return row

    def _resolve_item(
        self, index: int, annotation: Annotation, swappable: bool
    ) -> tuple[ItemRow | None, bool]:
        """The item an annotation judges, and whether its responses are stored in swapped order.

        A pair record may name an item stored with its two responses the other way round (another
        annotator preferred the other one): its judgment is then recorded against the stored order.
        """
        row = self._items.get(annotation.item_id)
        if row is None:
            kind = "pair" if annotation.judgment is not None else "ranking"
            texts = (annotation.prompt, annotation.responses)
            return self.item(annotation.item_id, *texts, kind=kind, source=annotation.source), False
        stored_prompt, stored_responses = item_content(row)
        prompt, responses = item_json(annotation.prompt, annotation.responses)
        if stored_prompt == prompt:
            if stored_responses == responses:
                return row, False
            if swappable and stored_responses == responses[::-1]:
                return row, True
        what = "responses differ" if stored_prompt == prompt else "prompt differs"
        reason = f"{what} from the item stored (or earlier in this batch) under this id"
        self.problems.append((index, f"item {annotation.item_id!r}: {reason}; give it another id"))
        return None, False

    def find_item(self, external_id: str) -> ItemRow | None:
        """A stored or batch item by id (prefetch it first)."""
        return self._items.get(external_id)

    def item(
        self,
        external_id: str,
        prompt: Text,
        responses: Sequence[Text],
        *,
        kind: str,
        source: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        provenance: Sequence[Provenance | None] | None = None,
    ) -> ItemRow:
        """A new item with its prompt and responses (reusing stored ones with the same content)."""
        prompt_row = self.contents.prompt_for(prompt)
        origins = provenance or [None] * len(responses)
        entries = [
            ItemResponseRow(position=i, response=self.contents.response(prompt_row, text, origin))
            for i, (text, origin) in enumerate(zip(responses, origins, strict=True))
        ]
        meta = dict(metadata or {})
        row = ItemRow(
            external_id=external_id, kind=kind, source=source, meta=meta, prompt=prompt_row
        )
        row.entries = entries
        self.session.add(row)
        self._items[external_id] = row
        self.report.items += 1
        return row

    def finish(self, message: str) -> ImportReport:
        """Raise every collected problem as one `StoreError`; else flush and return the report."""
        if self.problems:
            raise StoreError(message, self.problems)
        self.report.prompts = self.contents.new_prompts
        self.session.flush()
        return self.report
