"""Turning records of one kind into another, when a target format asks for it.

A format that holds preference pairs can take annotations and rankings: each decisive two-way
judgment is one pair (a tie is a pair marked `tie`; `both_bad` gives no preference and is left out),
and a ranking gives all the pairs it implies (ties between equal ranks are left out). Prompts and
demonstrations carry no judgment and become nothing else; nothing needs to become them, since every
format that holds them holds pairs too (SFT takes a pair's chosen response itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from rlhf.data.formats import ConversionError, Format
from rlhf.data.records import (
    Annotation,
    PreferencePair,
    Ranking,
    Record,
    RecordKind,
    Text,
    kind_of,
)

WHY_NOT: dict[RecordKind, str] = {
    "prompt": "a prompt has no responses to compare",
    "demonstration": "a demonstration has one response and no judgment to compare it by",
}
"""Why a kind cannot become judgments, for the message of a refused conversion."""


@dataclass(frozen=True)
class Converted:
    records: list[Record]
    dropped: int
    """Source records that carried no preference (e.g. `both_bad`)."""


def ranked_pairs(responses: Sequence[Text], ranks: Sequence[int | None]) -> list[tuple[int, int]]:
    """(better, worse) index pairs implied by ranks: 1 is best, equal and unranked give nothing."""
    ranked = [(i, r) for i, r in enumerate(ranks) if r is not None]
    return [
        (i, j) if ri < rj else (j, i) for (i, ri), (j, rj) in combinations(ranked, 2) if ri != rj
    ]


def _annotation_pairs(a: Annotation) -> list[PreferencePair]:
    def pair(chosen: int, rejected: int, id: str, **extra: Any) -> PreferencePair:
        return PreferencePair(
            prompt=a.prompt,
            chosen=a.responses[chosen],
            rejected=a.responses[rejected],
            id=id,
            source=a.source,
            annotator=a.annotator,
            metadata=a.metadata,
            **extra,
        )

    if a.judgment in ("a", "b", "tie"):
        win = 1 if a.judgment == "b" else 0
        tie = a.judgment == "tie"
        return [pair(win, 1 - win, f"{a.item_id}:{a.annotator}", strength=a.strength, tie=tie)]
    if a.ranks is not None:
        ranked = ranked_pairs(a.responses, a.ranks)
        return [pair(i, j, f"{a.item_id}:{a.annotator}:{i}>{j}") for i, j in ranked]
    return []


def _ranking_pairs(r: Ranking) -> list[PreferencePair]:
    return [
        PreferencePair(
            prompt=r.prompt,
            chosen=r.responses[i],
            rejected=r.responses[j],
            id=None if r.id is None else f"{r.id}:{i}>{j}",
            source=r.source,
            annotator=r.annotator,
            metadata=r.metadata,
        )
        for i, j in ranked_pairs(r.responses, r.ranks)
    ]


def convert_for(records: Sequence[Record], target: Format) -> Converted:
    """`records` in a kind `target` can hold; raises `ConversionError` when there is none."""
    if not records:
        return Converted([], 0)
    kind = kind_of(records[0])
    if kind in target.kinds:
        return Converted(list(records), 0)
    if "pair" in target.kinds and kind in ("annotation", "ranking"):
        return to_pairs(records)
    holds = ", ".join(target.kinds)
    why = f" ({WHY_NOT[kind]})" if kind in WHY_NOT else ""
    raise ConversionError(
        f"format {target.name!r} holds {holds} records; {kind} records cannot become them{why}"
    )


def to_pairs(records: Sequence[Record]) -> Converted:
    """The preference pairs `records` hold or imply (pairs as they are; judgments expanded)."""
    out: list[Record] = []
    dropped = 0
    for record in records:
        if isinstance(record, PreferencePair):
            out.append(record)
            continue
        if isinstance(record, Annotation):
            pairs = _annotation_pairs(record)
        elif isinstance(record, Ranking):
            pairs = _ranking_pairs(record)
        else:
            why = WHY_NOT.get(kind_of(record), "it holds no judgment")
            raise ConversionError(f"{kind_of(record)} records hold no preference pairs ({why})")
        out.extend(pairs)
        dropped += not pairs
    return Converted(out, dropped)
