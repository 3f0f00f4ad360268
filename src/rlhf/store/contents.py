"""Prompts and responses by content: found when stored, created when new, shared between items.

A prompt is stored once however many items ask it (looked up by the hash of its canonical JSON);
a response is stored once per prompt and provenance (model, checkpoint, sampling settings), so the
same completion compared in several pairs is one row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from rlhf.data.records import PromptRecord, Text, text_to_json
from rlhf.store.codec import content_hash, text_hash
from rlhf.store.schema import PromptRow, ResponseRow

T = TypeVar("T")
CHUNK = 500
"""Keys per `IN (...)` query: far below the parameter limits of SQLite and PostgreSQL."""

ResponseKey = tuple[str, str | None, str | None, str | None]
"""A response's content hash, model, checkpoint and sampling hash."""


def in_chunks(keys: Iterable[T]) -> Iterator[list[T]]:
    """The distinct keys, sorted, in lists short enough for one `IN (...)` each."""
    ordered = sorted(set(keys), key=str)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a response came from: the policy and how it was sampled."""

    model: str | None = None
    """Model name or path, e.g. `Qwen/Qwen2.5-0.5B-Instruct`."""
    checkpoint: str | None = None
    """The checkpoint (step, directory) of a model being trained."""
    sampling: Mapping[str, Any] | None = None
    """Generation settings, e.g. `{"temperature": 0.7, "top_p": 0.9}`."""


def _key(text_digest: str, model: str | None, checkpoint: str | None, sampling: Any) -> ResponseKey:
    return text_digest, model, checkpoint, None if sampling is None else content_hash(sampling)


class Contents:
    """The prompts and responses of one session, loaded on demand and kept as they are created."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.new_prompts = 0
        self._by_hash: dict[str, list[PromptRow]] = {}
        self._by_id: dict[str, PromptRow] = {}
        self._responses: dict[PromptRow, dict[ResponseKey, ResponseRow]] = {}

    def load_prompts(self, hashes: set[str], external_ids: set[str]) -> None:
        """Read the stored prompts with these content hashes or ids."""
        found: dict[int, PromptRow] = {}
        for chunk in in_chunks(hashes):
            query = select(PromptRow).where(PromptRow.content_hash.in_(chunk))
            found.update((row.id, row) for row in self.session.scalars(query))
        for ids in in_chunks(external_ids):
            query = select(PromptRow).where(PromptRow.external_id.in_(ids))
            found.update((row.id, row) for row in self.session.scalars(query))
        for _, row in sorted(found.items()):
            self._remember(row)

    def _remember(self, row: PromptRow) -> None:
        self._by_hash.setdefault(row.content_hash, []).append(row)
        if row.external_id is not None:
            self._by_id[row.external_id] = row

    def add_record(self, record: PromptRecord) -> Literal["added", "duplicate", "conflict"]:
        """Store a prompt record unless the same is stored; its id with other content conflicts.

        Without an id, a stored prompt without an id and with the same text, source and metadata
        (for example an item's prompt) is the same prompt.
        """
        wanted = (text_to_json(record.prompt), record.source, dict(record.metadata))
        if record.id is not None:
            row = self._by_id.get(record.id)
            if row is not None:
                return "duplicate" if (row.content, row.source, row.meta) == wanted else "conflict"
        else:
            for row in self._by_hash.get(text_hash(record.prompt), []):
                if row.external_id is None and (row.content, row.source, row.meta) == wanted:
                    return "duplicate"
        self._new_prompt(record.prompt, record.source, dict(record.metadata), record.id)
        return "added"

    def prompt_for(self, text: Text) -> PromptRow:
        """The stored prompt with this text (the first stored), created when new."""
        content = text_to_json(text)
        for row in self._by_hash.get(text_hash(text), []):
            if row.content == content:
                return row
        return self._new_prompt(text, None, {}, None)

    def _new_prompt(
        self, text: Text, source: str | None, meta: dict[str, Any], external_id: str | None
    ) -> PromptRow:
        row = PromptRow(
            external_id=external_id,
            content=text_to_json(text),
            content_hash=text_hash(text),
            source=source,
            meta=meta,
        )
        self.session.add(row)
        self._remember(row)
        self.new_prompts += 1
        return row

    def response(self, prompt: PromptRow, text: Text, origin: Provenance | None) -> ResponseRow:
        """The response `text` to `prompt` with this provenance, created when new."""
        origin = origin or Provenance()
        known = self._responses.get(prompt)
        if known is None:  # a stored prompt's responses are read once, on first use
            known = {
                _key(r.content_hash, r.model, r.checkpoint, r.sampling): r for r in prompt.responses
            }
            self._responses[prompt] = known
        sampling = None if origin.sampling is None else dict(origin.sampling)
        key = _key(text_hash(text), origin.model, origin.checkpoint, sampling)
        if key not in known:
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
