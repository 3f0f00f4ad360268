"""OpenAI summarize-from-feedback comparisons (Stiennon et al. 2020): one worker's label per line.

Each object holds a Reddit post (`info`), two `summaries`, the worker's `choice` (0 or 1) and a 1-9
`confidence` (1: summary 0 is definitely better, 9: summary 1 is). It reads as one `Annotation`:
the item is the post with its two summaries, the prompt is the post in the TL;DR layout the paper
trains on, and the strength is the distance of the confidence from the undecided middle (5). What has
no rlhf field (post fields, policies, notes, split, batch) is kept in `metadata`, so writing back
reproduces the original objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from rlhf.data.formats.base import ConversionError, Format
from rlhf.data.records import Annotation, Record, render_plain
from rlhf.data.validation import InvalidRecordError

UNDECIDED = 5
"""The middle of the 1-9 confidence scale; it never occurs in the data (no ties)."""
KEYS = ("info", "split", "summaries", "choice", "worker", "batch", "extra")


def tldr_prompt(info: Mapping[str, Any]) -> str:
    """The post as the paper's policies saw it."""
    return (
        f"SUBREDDIT: r/{info['subreddit']}\nTITLE: {info['title']}\nPOST: {info['post']}\n\nTL;DR:"
    )


def item_id(post_id: str, texts: Sequence[str]) -> str:
    """The same post with the same two summaries is one item, however often it was labelled."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:12]
    return f"tldr-{post_id}-{digest}"


def _shape_errors(obj: Any) -> list[tuple[str, str]]:
    if not isinstance(obj, dict):
        return [("record", "expected a JSON object")]
    errors = [(k, "missing") for k in KEYS if k not in obj]
    info, summaries = obj.get("info"), obj.get("summaries")
    if "info" in obj and not (
        isinstance(info, dict)
        and all(isinstance(info.get(k), str) for k in ("id", "post", "title", "subreddit"))
    ):
        errors.append(("info", "expected an object with string id, post, title and subreddit"))
    if "summaries" in obj and not (
        isinstance(summaries, list)
        and len(summaries) == 2
        and all(isinstance(s, dict) and isinstance(s.get("text"), str) for s in summaries)
    ):
        errors.append(("summaries", "expected two objects with a text"))
    if "choice" in obj and obj["choice"] not in (0, 1):
        errors.append(("choice", f"expected 0 or 1, got {obj['choice']!r}"))
    if "worker" in obj and not isinstance(obj["worker"], str):
        errors.append(("worker", "expected a string"))
    confidence = (
        obj.get("extra", {}).get("confidence") if isinstance(obj.get("extra"), dict) else None
    )
    if confidence is not None and confidence not in range(1, 10):
        errors.append(("extra.confidence", f"expected an integer 1-9, got {confidence!r}"))
    return errors


def decode(obj: Any) -> list[Record]:
    errors = _shape_errors(obj)
    if errors:
        raise InvalidRecordError(errors)
    info, summaries, choice = obj["info"], obj["summaries"], obj["choice"]
    texts = [s["text"] for s in summaries]
    confidence = obj["extra"].get("confidence")
    kept = {k: v for k, v in obj.items() if k not in ("choice", "worker")}
    return [
        Annotation(
            item_id=item_id(info["id"], texts),
            annotator=obj["worker"],
            prompt=tldr_prompt(info),
            responses=tuple(texts),
            judgment="ab"[choice],  # type: ignore[arg-type]
            strength=None if confidence is None else abs(confidence - UNDECIDED),
            source="summarize-from-feedback",
            metadata={"summarize": kept},
        )
    ]


def _object(record: Annotation) -> dict[str, Any]:
    if record.judgment not in ("a", "b") or len(record.responses) != 2:
        raise ConversionError(
            f"item {record.item_id}: summarize-from-feedback holds a choice between two summaries, "
            f"not {record.judgment or 'a ranking'}"
        )
    choice = "ab".index(record.judgment)
    kept = dict(record.metadata.get("summarize", {}))
    if not kept:
        info = {
            "id": record.item_id,
            "post": render_plain(record.prompt),
            "title": "",
            "subreddit": "",
        }
        summaries = [{"text": render_plain(t)} for t in record.responses]
        kept = {
            "info": info,
            "split": "",
            "summaries": summaries,
            "batch": record.source or "",
            "extra": {},
        }
    if record.strength is not None:
        sign = 1 if choice else -1
        kept["extra"] = {**kept.get("extra", {}), "confidence": UNDECIDED + sign * record.strength}
    out = {**kept, "choice": choice, "worker": record.annotator}
    return {k: out[k] for k in KEYS if k in out}


def encode(records: Sequence[Record]) -> list[Any]:
    out = []
    for record in records:
        if not isinstance(record, Annotation):
            raise ConversionError(
                f"summarize-from-feedback holds annotations, not {type(record).__name__}"
            )
        out.append(_object(record))
    return out


def detect(obj: Mapping[str, Any]) -> bool:
    return {"info", "summaries", "choice"} <= set(obj)


FORMAT = Format(
    name="summarize",
    summary="OpenAI summarize-from-feedback comparisons (worker ids, 1-9 confidence)",
    kinds=("annotation",),
    decode=decode,
    encode=encode,
    detect=detect,
)
