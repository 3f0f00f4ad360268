"""The canonical rlhf format: one record per JSON object, fields as in `rlhf.data.records`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rlhf.data.formats.base import Format
from rlhf.data.records import Record, record_to_json
from rlhf.data.validation import parse_record


def decode(obj: Any) -> list[Record]:
    return [parse_record(obj)]


def encode(records: Sequence[Record]) -> list[Any]:
    return [record_to_json(r) for r in records]


def detect(obj: Mapping[str, Any]) -> bool:
    return True


FORMAT = Format(
    name="rlhf",
    summary="canonical rlhf records: pairs, rankings, annotations, prompts or demonstrations",
    kinds=("pair", "ranking", "annotation", "prompt", "demonstration"),
    decode=decode,
    encode=encode,
    detect=detect,
)
