"""What a file format is: a decoder, an encoder and a detector over JSON objects."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rlhf.data.records import Record, RecordKind
from rlhf.errors import UserError


class ConversionError(UserError):
    """Records that a target format cannot represent (the message says which and why)."""


@dataclass(frozen=True, kw_only=True)
class Format:
    """One file format: how its JSON objects become records and back."""

    name: str
    """The `--format`/`--to` name."""
    summary: str
    """One line for `--help` and the docs."""
    kinds: tuple[RecordKind, ...]
    """Record kinds it can hold."""
    decode: Callable[[Any], list[Record]]
    """One JSON object -> its records; raises `InvalidRecordError` listing every problem."""
    encode: Callable[[Sequence[Record]], list[Any]]
    """Records -> JSON objects; raises `ConversionError` for what the format cannot hold."""
    detect: Callable[[Mapping[str, Any]], bool]
    """Whether a file's first object looks like this format."""
