"""Descriptive statistics of a set of records: what `rlhf data stats` reports."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from rlhf.data.records import (
    Annotation,
    Demonstration,
    PreferencePair,
    Ranking,
    Record,
    Text,
    is_conversational,
    kind_of,
    render_plain,
    text_length,
)
from rlhf.progress import progress

Measure = Callable[[Text], int]


def distribution(values: Sequence[float]) -> dict[str, float]:
    """min, mean, median, 95th percentile and max of `values` (empty -> {})."""
    if not values:
        return {}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "min": ordered[0],
        "mean": round(statistics.fmean(ordered), 2),
        "median": statistics.median(ordered),
        "p95": p95,
        "max": ordered[-1],
    }


def _texts(record: Record) -> dict[str, list[Text]]:
    """The texts of a record grouped by role (prompt, chosen, rejected, response, completion)."""
    if isinstance(record, PreferencePair):
        return {"prompt": [record.prompt], "chosen": [record.chosen], "rejected": [record.rejected]}
    if isinstance(record, Demonstration):
        return {"prompt": [record.prompt], "completion": [record.completion]}
    if isinstance(record, Ranking | Annotation):
        return {"prompt": [record.prompt], "response": list(record.responses)}
    return {"prompt": [record.prompt]}


def _identity(record: Record) -> Hashable:
    """What makes two records the same record (for counting duplicates)."""
    if isinstance(record, PreferencePair):
        return (record.prompt, record.chosen, record.rejected)
    if isinstance(record, Ranking):
        return (record.prompt, record.responses, record.ranks)
    if isinstance(record, Annotation):
        return (record.item_id, record.annotator)
    if isinstance(record, Demonstration):
        return (record.prompt, record.completion)
    return record.prompt


def _is_tie(record: Record) -> bool:
    if isinstance(record, PreferencePair):
        return record.tie
    ranks = record.ranks if isinstance(record, Ranking | Annotation) else None
    if isinstance(record, Annotation) and record.judgment is not None:
        return record.judgment == "tie"
    ranked = [r for r in ranks or () if r is not None]
    return len(ranked) != len(set(ranked))


def _lengths(records: Sequence[Record], measure: Measure) -> dict[str, dict[str, float]]:
    by_field: dict[str, list[float]] = {}
    for record in progress(records, desc="measuring lengths", unit="rec"):
        for name, texts in _texts(record).items():
            by_field.setdefault(name, []).extend(measure(t) for t in texts)
    return {name: distribution(values) for name, values in by_field.items()}


def _annotator(record: Record) -> str | None:
    """Who judged, for the kinds that carry human judgments."""
    return record.annotator if isinstance(record, PreferencePair | Ranking | Annotation) else None


def _annotators(records: Sequence[Record]) -> dict[str, Any]:
    per = Counter(name for name in map(_annotator, records) if name)
    return {
        "count": len(per),
        "items_per_annotator": distribution(list(per.values())),
        "per_annotator": dict(per.most_common()),
    }


def _items(annotations: Sequence[Annotation]) -> dict[str, Any]:
    labels = Counter(a.item_id for a in annotations)
    return {
        "count": len(labels),
        "labels_per_item": distribution(list(labels.values())),
        "multiply_labelled": sum(1 for n in labels.values() if n > 1),
        "judgments": dict(Counter(a.judgment or "ranking" for a in annotations).most_common()),
    }


def describe(records: Sequence[Record], *, count_tokens: Measure | None = None) -> dict[str, Any]:
    """Counts, length distributions (characters, and tokens when `count_tokens` is given),
    duplicates, ties, annotators and items per annotator."""
    seen: set[Hashable] = set()
    duplicates = 0
    for record in records:
        key = _identity(record)
        duplicates += key in seen
        seen.add(key)
    summary: dict[str, Any] = {
        "records": len(records),
        "kind": kind_of(records[0]) if records else None,
        "conversational": sum(is_conversational(r.prompt) for r in records),
        "duplicates": duplicates,
        "ties": sum(_is_tie(r) for r in records),
        "chars": _lengths(records, text_length),
    }
    if count_tokens is not None:
        summary["tokens"] = _lengths(records, count_tokens)
    if any(map(_annotator, records)):
        summary["annotators"] = _annotators(records)
    annotations = [r for r in records if isinstance(r, Annotation)]
    if annotations:
        summary["items"] = _items(annotations)
    return summary


def token_counter(tokenizer: Any) -> Measure:
    """A `Measure` counting the tokens of a text with a Hugging Face tokenizer."""

    def count(text: Text) -> int:
        return len(tokenizer(render_plain(text), add_special_tokens=False)["input_ids"])

    return count
