"""Turning records of one kind into another, when a target format asks for it.

A format that holds preference pairs can take annotations and rankings: each decisive two-way
judgment is one pair (a tie is a pair marked `tie`; `both_bad` gives no preference and is left out),
and a ranking gives all the pairs it implies (ties between equal ranks are left out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from rlhf.data.formats import ConversionError, Format
from rlhf.data.records import Annotation, PreferencePair, Ranking, Record, Text, kind_of


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
    common = {
        "prompt": a.prompt,
        "source": a.source,
        "annotator": a.annotator,
        "metadata": a.metadata,
    }
    if a.judgment in ("a", "b", "tie"):
        win = 1 if a.judgment == "b" else 0
        return [
            PreferencePair(
                chosen=a.responses[win],
                rejected=a.responses[1 - win],
                id=f"{a.item_id}:{a.annotator}",
                strength=a.strength,
                tie=a.judgment == "tie",
                **common,
            )
        ]
    if a.ranks is not None:
        return [
            PreferencePair(
                chosen=a.responses[i],
                rejected=a.responses[j],
                id=f"{a.item_id}:{a.annotator}:{i}>{j}",
                **common,
            )
            for i, j in ranked_pairs(a.responses, a.ranks)
        ]
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
        out: list[Record] = []
        dropped = 0
        for record in records:
            pairs = (
                _annotation_pairs(record)
                if isinstance(record, Annotation)
                else _ranking_pairs(record)
            )  # type: ignore[arg-type]
            out.extend(pairs)
            dropped += not pairs
        return Converted(out, dropped)
    holds = ", ".join(target.kinds)
    raise ConversionError(
        f"format {target.name!r} holds {holds} records; {kind} records cannot become them"
    )
