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

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from rlhf.data.records import (
    Annotation,
    Judgment,
    PreferencePair,
    PromptRecord,
    Ranking,
    Text,
    text_to_json,
)
from rlhf.store.codec import (
    TextJSON,
    annotation_values,
    as_annotation,
    content_hash,
    item_json,
    text_hash,
)
from rlhf.store.errors import StoreError
from rlhf.store.schema import (
    AnnotationRow,
    AnnotatorRow,
    ItemResponseRow,
    ItemRow,
    PromptRow,
    ResponseRow,
)

T = TypeVar("T")
CHUNK = 500
"""Keys per `IN (...)` query: far below the parameter limits of SQLite and PostgreSQL."""
SWAPPED: dict[Judgment, Judgment] = {"a": "b", "b": "a", "tie": "tie", "both_bad": "both_bad"}


@dataclass
class ImportReport:
    """What one import added, and how many of its records were already stored."""

    prompts: int = 0
    items: int = 0
    annotations: int = 0
    skipped_duplicates: int = 0


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a response came from: the policy and how it was sampled."""

    model: str | None = None
    """Model name or path, e.g. `Qwen/Qwen2.5-0.5B-Instruct`."""
    checkpoint: str | None = None
    """The checkpoint (step, directory) of a model being trained."""
    sampling: Mapping[str, Any] | None = None
    """Generation settings, e.g. `{"temperature": 0.7, "top_p": 0.9}`."""

    def key(self) -> tuple[str | None, str | None, str | None]:
        sampling = None if self.sampling is None else content_hash(dict(self.sampling))
        return self.model, self.checkpoint, sampling


NO_PROVENANCE = Provenance()


def item_content(row: ItemRow) -> tuple[TextJSON, list[TextJSON]]:
    """The prompt and responses of a stored item as canonical JSON."""
    return row.prompt.content, [entry.response.content for entry in row.entries]


def _chunks(keys: Iterable[T]) -> Iterator[list[T]]:
    ordered = sorted(set(keys), key=str)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Importer:
    """Adds records to an open session; read `report`, then call `finish` before committing."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.report = ImportReport()
        self.problems: list[tuple[int, str]] = []
        self._annotators: dict[str, AnnotatorRow] = {}
        self._items: dict[str, ItemRow] = {}
        self._prompts: dict[str, list[PromptRow]] = {}  # by content hash
        self._prompt_ids: dict[str, PromptRow] = {}  # by external id
        self._responses: dict[PromptRow, dict[tuple[Any, ...], ResponseRow]] = {}
        self._annotations: dict[tuple[str, str], AnnotationRow] = {}

    # --- reading what the batch needs ------------------------------------------------------------

    def prefetch(self, annotations: Sequence[Annotation], prompts: Sequence[PromptRecord]) -> None:
        """Load the stored annotators, items, annotations and prompts the batch refers to."""
        self.load_annotators({a.annotator for a in annotations})
        self.load_items({a.item_id for a in annotations})
        texts = [a.prompt for a in annotations] + [p.prompt for p in prompts]
        self.load_prompts({text_hash(t) for t in texts}, {p.id for p in prompts if p.id})

    def load_annotators(self, names: set[str]) -> None:
        for chunk in _chunks(names):
            query = select(AnnotatorRow).where(AnnotatorRow.name.in_(chunk))
            self._annotators.update((row.name, row) for row in self.session.scalars(query))

    def load_items(self, external_ids: set[str]) -> None:
        entries = selectinload(ItemRow.entries).joinedload(ItemResponseRow.response)
        for chunk in _chunks(external_ids):
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

    def load_prompts(self, hashes: set[str], external_ids: set[str]) -> None:
        found: dict[int, PromptRow] = {}
        for chunk in _chunks(hashes):
            query = select(PromptRow).where(PromptRow.content_hash.in_(chunk))
            found.update((row.id, row) for row in self.session.scalars(query))
        for ids in _chunks(external_ids):
            query = select(PromptRow).where(PromptRow.external_id.in_(ids))
            found.update((row.id, row) for row in self.session.scalars(query))
        for _, row in sorted(found.items()):
            self._prompts.setdefault(row.content_hash, []).append(row)
            if row.external_id is not None:
                self._prompt_ids[row.external_id] = row

    # --- adding ----------------------------------------------------------------------------------

    def add_prompt(self, index: int, record: PromptRecord) -> None:
        """A prompt record: new, an identical duplicate, or a conflict with its stored id."""
        wanted = (text_to_json(record.prompt), record.source, dict(record.metadata))
        if record.id is not None and record.id in self._prompt_ids:
            row = self._prompt_ids[record.id]
            if (row.content, row.source, row.meta) == wanted:
                self.report.skipped_duplicates += 1
            else:
                reason = "differs from the prompt stored (or earlier in this batch) under this id"
                self.problems.append((index, f"prompt {record.id!r}: {reason}"))
            return
        if record.id is None:
            for row in self._prompts.get(text_hash(record.prompt), []):
                if row.external_id is None and (row.content, row.source, row.meta) == wanted:
                    self.report.skipped_duplicates += 1
                    return
        row = self._new_prompt(record.prompt, record.source, dict(record.metadata), record.id)
        if record.id is not None:
            self._prompt_ids[record.id] = row

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
        prompt_row = self._prompt_for(prompt)
        origins = provenance or [None] * len(responses)
        entries = [
            ItemResponseRow(position=i, response=self._response(prompt_row, text, origin))
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

    def _prompt_for(self, text: Text) -> PromptRow:
        content = text_to_json(text)
        for row in self._prompts.get(text_hash(text), []):
            if row.content == content:
                return row
        return self._new_prompt(text, None, {}, None)

    def _new_prompt(
        self, text: Text, source: str | None, meta: dict[str, Any], external_id: str | None
    ) -> PromptRow:
        digest = text_hash(text)
        row = PromptRow(
            external_id=external_id,
            content=text_to_json(text),
            content_hash=digest,
            source=source,
            meta=meta,
        )
        self.session.add(row)
        self._prompts.setdefault(digest, []).append(row)
        self.report.prompts += 1
        return row

    def _response(self, prompt: PromptRow, text: Text, origin: Provenance | None) -> ResponseRow:
        """The response `text` to `prompt` with this provenance, created when new."""
        origin = origin or NO_PROVENANCE
        known = self._responses.get(prompt)
        if known is None:  # loads the stored responses of a stored prompt, once
            known = {
                (r.content_hash, r.model, r.checkpoint, _sampling_key(r)): r
                for r in prompt.responses
            }
            self._responses[prompt] = known
        key = (text_hash(text), *origin.key())
        if key not in known:
            sampling = None if origin.sampling is None else dict(origin.sampling)
            known[key] = ResponseRow(
                content=text_to_json(text),
                content_hash=key[0],
                model=origin.model,
                checkpoint=origin.checkpoint,
                sampling=sampling,
                meta={},
            )
            prompt.responses.append(known[key])
        return known[key]

    def finish(self, message: str) -> ImportReport:
        """Raise every collected problem as one `StoreError`; else flush and return the report."""
        if self.problems:
            raise StoreError(message, self.problems)
        self.session.flush()
        return self.report


def _sampling_key(row: ResponseRow) -> str | None:
    return None if row.sampling is None else content_hash(row.sampling)
