"""Helpers shared by the quality tests: annotations and random label tables."""

from __future__ import annotations

from typing import Any

import numpy as np

from rlhf.data import Annotation
from rlhf.quality.labels import MISSING, Codes


def annotation(item: str, annotator: str, judgment: str | None = "a", **fields: Any) -> Annotation:
    """An annotation of item `item` (prompt and responses derived from its name)."""
    responses = fields.pop("responses", (f"{item} first answer", f"{item} second, longer answer"))
    ranks = fields.pop("ranks", None)
    return Annotation(
        item_id=item,
        annotator=annotator,
        prompt=fields.pop("prompt", f"question {item}"),
        responses=tuple(responses),
        judgment=None if ranks else judgment,  # type: ignore[arg-type]
        ranks=ranks,
        **fields,
    )


def random_codes(
    rng: np.random.Generator, items: int, annotators: int, categories: int, missing: float
) -> Codes:
    """A random label table with about `missing` of the cells empty, correlated across columns."""
    truth = rng.integers(0, categories, size=items)
    noise = rng.integers(0, categories, size=(items, annotators))
    codes = np.where(rng.random((items, annotators)) < 0.7, truth[:, None], noise)
    codes[rng.random((items, annotators)) < missing] = MISSING
    return codes.astype(np.int64)
