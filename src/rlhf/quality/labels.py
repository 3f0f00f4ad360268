"""Annotations as a label table: items x annotators, the shape every quality statistic takes.

A judgment of two responses is one of four categories with fixed codes: `a` = 0, `b` = 1,
`tie` = 2, `both_bad` = 3. A tie is a label like any other, never dropped. `codes[i, j]` is the
code annotator j gave item i, or `MISSING` (-1) when j did not judge i.

Beside the table, `Judgments` keeps one row per judgment in each annotator's session order (by
`created_at` when every annotation has one, else in the order given), with the seconds spent and
which response was shown on the left. `Annotation.display_order` says what was on the left; when
it is missing, `responses[0]` (`a`) is taken as the left one, and `left_known` records that.

Annotations by ranks (more than two responses) are left out and counted in `skipped`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from rlhf.data.records import JUDGMENTS, Annotation, Judgment, Text, text_length
from rlhf.errors import UserError

logger = logging.getLogger(__name__)

Codes = npt.NDArray[np.int64]
"""Integer category codes; `MISSING` where there is no label."""
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

MISSING = -1
A, B, TIE, BOTH_BAD = 0, 1, 2, 3
CATEGORIES: tuple[Judgment, ...] = JUDGMENTS
"""The category of each code: `CATEGORIES[A] == "a"`."""
CODE: dict[str, int] = {judgment: code for code, judgment in enumerate(CATEGORIES)}

ORDINAL: tuple[Judgment, ...] = ("b", "tie", "a")
"""The ordinal scale of a preference: b better < equally good < a better. `both_bad` has no
place on it and counts as missing in ordinal statistics."""


class LabelError(UserError):
    """Annotations that cannot form one label table (an item judged twice by one annotator, or
    one item id with two different contents)."""


@dataclass(frozen=True)
class Item:
    """One judged item: a prompt and its two responses (`a`, then `b`)."""

    id: str
    prompt: Text
    responses: tuple[Text, Text]
    source: str | None = None
    gold: Judgment | None = None
    """The known right label (`metadata["gold"]` of its annotations), for gold-item accuracy."""


@dataclass(frozen=True)
class Judgments:
    """One row per judgment, grouped by annotator, each group in session order."""

    item: Codes  # (N,) row of the item in the table
    annotator: Codes  # (N,) column of the annotator
    code: Codes  # (N,) category code
    position: Codes  # (N,) 0-based place in the annotator's session
    seconds: Floats  # (N,) time spent, nan when not recorded
    left: Codes  # (N,) index of the response shown on the left (0 = a, 1 = b)
    left_known: Bools  # (N,) whether `left` was recorded (display_order) or assumed

    def of(self, annotator: int) -> Codes:
        """Row indexes of one annotator's judgments, in session order."""
        rows = np.flatnonzero(self.annotator == annotator)
        return rows[np.argsort(self.position[rows], kind="stable")]


@dataclass(frozen=True)
class LabelTable:
    """Items x annotators category codes, with the items' texts and each judgment's context."""

    items: tuple[Item, ...]
    annotators: tuple[str, ...]
    codes: Codes  # (I, J), MISSING where annotator j did not judge item i
    judgments: Judgments
    skipped: int = 0
    """Annotations by ranks, left out."""
    ordered_by_time: bool = False
    """Whether session order comes from `created_at` (else from the order given)."""

    @property
    def lengths(self) -> Floats:
        """(I, 2) number of characters of responses a and b."""
        return np.array(
            [[text_length(t) for t in item.responses] for item in self.items], dtype=np.float64
        ).reshape(len(self.items), 2)

    @property
    def gold(self) -> Codes:
        """(I,) the gold code of each item, MISSING where none is known."""
        return np.array(
            [MISSING if item.gold is None else CODE[item.gold] for item in self.items],
            dtype=np.int64,
        )

    @property
    def used_categories(self) -> tuple[Judgment, ...]:
        """The categories some annotator used, in the order of `CATEGORIES`."""
        present = set(np.unique(self.codes[self.codes != MISSING]).tolist())
        return tuple(c for code, c in enumerate(CATEGORIES) if code in present)

    def ordinal_codes(self) -> Codes:
        """The table on the `ORDINAL` scale: b = 0, tie = 1, a = 2; both_bad becomes MISSING."""
        mapping = np.array([2, 0, 1, MISSING, MISSING], dtype=np.int64)  # index -1 -> MISSING
        return mapping[self.codes]

    @classmethod
    def from_annotations(
        cls, annotations: Sequence[Annotation], where: Sequence[str] | None = None
    ) -> LabelTable:
        """The table of two-response judgments; `where[k]` locates annotation k in messages."""
        return _build(
            annotations, where or [f"annotation {k + 1}" for k in range(len(annotations))]
        )


def _timestamp(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _gold(annotation: Annotation) -> Judgment | None:
    gold = annotation.metadata.get("gold") if annotation.metadata else None
    return gold if isinstance(gold, str) and gold in CODE else None  # type: ignore[return-value]


class _Builder:
    """Collects items, annotators and judgments, checking that they form one table."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.item_rows: dict[str, int] = {}
        self.annotators: dict[str, int] = {}
        self.rows: list[tuple[int, int, int, float, int, bool, float | None, int]] = []
        self.seen: dict[tuple[int, int], str] = {}

    def item(self, annotation: Annotation, where: str) -> int:
        item = Item(
            id=annotation.item_id,
            prompt=annotation.prompt,
            responses=(annotation.responses[0], annotation.responses[1]),
            source=annotation.source,
            gold=_gold(annotation),
        )
        row = self.item_rows.setdefault(item.id, len(self.items))
        if row == len(self.items):
            self.items.append(item)
        stored = self.items[row]
        if (stored.prompt, stored.responses) != (item.prompt, item.responses):
            raise LabelError(
                f"{where}: item_id {item.id!r} was given earlier with another prompt or other "
                "responses; give each distinct item its own item_id"
            )
        if stored.gold is None and item.gold is not None:
            self.items[row] = item
        return row

    def add(self, order: int, annotation: Annotation, where: str) -> None:
        assert annotation.judgment is not None
        row = self.item(annotation, where)
        column = self.annotators.setdefault(annotation.annotator, len(self.annotators))
        if (row, column) in self.seen:
            raise LabelError(
                f"{where}: annotator {annotation.annotator!r} judged item "
                f"{annotation.item_id!r} already ({self.seen[row, column]}); keep one judgment "
                "per annotator and item"
            )
        self.seen[row, column] = where
        left = annotation.shown_left
        seconds = math.nan if annotation.seconds is None else annotation.seconds
        moment = _timestamp(annotation.created_at)
        code = CODE[annotation.judgment]
        self.rows.append((row, column, code, seconds, left or 0, left is not None, moment, order))


def _session_positions(builder: _Builder, by_time: bool) -> Codes:
    """Each judgment's place in its annotator's session: by time, else by input order."""
    rows = builder.rows
    keys = [(r[1], (r[6] or 0.0) if by_time else 0.0, r[7]) for r in rows]
    order = sorted(range(len(rows)), key=lambda k: keys[k])
    positions = np.zeros(len(rows), dtype=np.int64)
    counters: dict[int, int] = {}
    for k in order:
        column = rows[k][1]
        positions[k] = counters.get(column, 0)
        counters[column] = positions[k] + 1
    return positions


def _build(annotations: Sequence[Annotation], where: Sequence[str]) -> LabelTable:
    builder = _Builder()
    skipped = 0
    for order, annotation in enumerate(annotations):
        if annotation.judgment is None or len(annotation.responses) != 2:
            skipped += 1
            continue
        builder.add(order, annotation, where[order])
    if skipped:
        logger.info("left out %d annotation(s) by ranks: quality works on pairs", skipped)
    rows = builder.rows
    by_time = bool(rows) and all(r[6] is not None for r in rows)
    columns = list(zip(*rows, strict=True)) if rows else [()] * 8
    item, annotator, code = (np.array(c, dtype=np.int64) for c in columns[:3])
    codes = np.full((len(builder.items), len(builder.annotators)), MISSING, dtype=np.int64)
    codes[item, annotator] = code
    judgments = Judgments(
        item=item,
        annotator=annotator,
        code=code,
        position=_session_positions(builder, by_time),
        seconds=np.array(columns[3], dtype=np.float64),
        left=np.array(columns[4], dtype=np.int64),
        left_known=np.array(columns[5], dtype=np.bool_),
    )
    return LabelTable(
        items=tuple(builder.items),
        annotators=tuple(builder.annotators),
        codes=codes,
        judgments=judgments,
        skipped=skipped,
        ordered_by_time=by_time,
    )
