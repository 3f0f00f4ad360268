"""Conversions between record values and column values: texts, content hashes, timestamps.

Texts are stored as their canonical JSON (a string, or a list of `{"role", "content"}` objects), the
same value `record_to_json` writes, so the database and the files agree. Items without an id are
named by a hash of their content, which makes importing the same file twice find the same items.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rlhf.data.records import (
    Annotation,
    Judgment,
    Message,
    PreferencePair,
    Ranking,
    Text,
    text_to_json,
)

TextJSON = str | list[dict[str, str]]

UNKNOWN_ANNOTATOR = "unknown"
"""The annotator of a pair or ranking record that names none; exported back as `None`."""


def text_from_json(value: Any) -> Text:
    """The inverse of `text_to_json`: a string as is, a list of messages as a conversation."""
    if isinstance(value, str):
        return value
    return tuple(Message(role=m["role"], content=m["content"]) for m in value)


def content_hash(value: Any) -> str:
    """SHA-256 of the canonical JSON of `value` (sorted keys, no spaces): equal content, equal hash."""
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def text_hash(text: Text) -> str:
    """The content hash of a text, for finding a stored prompt or response with the same content."""
    return content_hash(text_to_json(text))


def default_item_id(prompt: Text, responses: Sequence[Text]) -> str:
    """The id of an item given none: `item-` and 16 hex digits of the hash of its content."""
    value = {"prompt": text_to_json(prompt), "responses": [text_to_json(t) for t in responses]}
    return f"item-{content_hash(value)[:16]}"


def item_json(prompt: Text, responses: Sequence[Text]) -> tuple[TextJSON, list[TextJSON]]:
    """An item's prompt and responses as canonical JSON, as stored."""
    return text_to_json(prompt), [text_to_json(t) for t in responses]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def parse_timestamp(value: str) -> datetime:
    """An ISO 8601 string as an aware UTC datetime; a time without an offset is taken as UTC.

    Raises ValueError for a string that is not ISO 8601.
    """
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 in UTC (`2024-05-01T12:00:00+00:00`); None stays None."""
    return None if value is None else value.astimezone(UTC).isoformat()


def as_annotation(record: PreferencePair | Ranking | Annotation) -> Annotation:
    """A pair or ranking as the annotation it records; an annotation as is.

    A pair is an item with responses `(chosen, rejected)` judged `a` (or `tie`); a ranking, an item
    judged by ranks. Without an id the item is named by its content, without an annotator the
    judgment is by `unknown`.
    """
    if isinstance(record, Annotation):
        return record
    judgment: Judgment | None = None
    strength = ranks = None
    if isinstance(record, PreferencePair):
        responses: tuple[Text, ...] = (record.chosen, record.rejected)
        judgment, strength = ("tie" if record.tie else "a"), record.strength
    else:
        responses, ranks = record.responses, record.ranks
    return Annotation(
        item_id=record.id or default_item_id(record.prompt, responses),
        annotator=record.annotator or UNKNOWN_ANNOTATOR,
        prompt=record.prompt,
        responses=responses,
        judgment=judgment,
        ranks=ranks,
        strength=strength,
        source=record.source,
        metadata=record.metadata,
    )


def annotation_values(annotation: Annotation, confidence: float | None) -> dict[str, Any]:
    """The `annotations` columns an annotation fills (besides item and annotator).

    Raises ValueError when `created_at` is not ISO 8601.
    """
    created, order = annotation.created_at, annotation.display_order
    return {
        "judgment": annotation.judgment,
        "ranks": None if annotation.ranks is None else list(annotation.ranks),
        "strength": annotation.strength,
        "confidence": confidence,
        "safety_flags": list(annotation.safety_flags),
        "comment": annotation.comment,
        "display_order": None if order is None else list(order),
        "seconds": annotation.seconds,
        "created_at": None if created is None else parse_timestamp(created),
        "source": annotation.source,
        "meta": dict(annotation.metadata),
    }
