"""TRL's dataset format: `prompt`/`chosen`/`rejected`, standard (strings) or conversational.

TRL accepts an explicit prompt or an implicit one (`chosen` and `rejected` hold the whole text and
share it as a prefix); both read here. Extra columns are kept: rlhf's own pair fields (`id`,
`source`, `annotator`, `strength`, `tie`, `confidence`) map to those fields, anything else to
`metadata`. Writing uses the explicit-prompt form with the same flat extra columns, which TRL ignores,
so TRL -> rlhf -> TRL loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rlhf.data.formats.base import ConversionError, Format
from rlhf.data.records import PreferencePair, PromptRecord, Record, record_to_json
from rlhf.data.validation import InvalidRecordError, parse_record

PAIR_FIELDS = ("prompt", "chosen", "rejected")
EXTRA_PAIR_FIELDS = ("id", "source", "annotator", "strength", "tie", "confidence")
EXTRA_PROMPT_FIELDS = ("id", "source")


def split_shared_prefix(chosen: Any, rejected: Any) -> tuple[Any, Any, Any]:
    """(prompt, chosen, rejected) from two full texts that share their prompt as a prefix.

    Conversations split at the first differing message. Strings split at the last whitespace before
    the first differing character, so no word is cut (the completion keeps its leading space).
    """
    if isinstance(chosen, list) and isinstance(rejected, list):
        n = 0
        while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
            n += 1
        return chosen[:n], chosen[n:], rejected[n:]
    if isinstance(chosen, str) and isinstance(rejected, str):
        n = 0
        while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
            n += 1
        cut = max((i for i, ch in enumerate(chosen[:n]) if ch.isspace()), default=n)
        return chosen[:cut], chosen[cut:], rejected[cut:]
    raise InvalidRecordError([("chosen", "chosen and rejected must both be text or both messages")])


def _canonical(
    obj: Mapping[str, Any], core: Sequence[str], extras: Sequence[str]
) -> dict[str, Any]:
    out = {k: obj[k] for k in (*core, *extras) if k in obj}
    metadata = {k: v for k, v in obj.items() if k not in out}
    if metadata:
        out["metadata"] = metadata
    return out


def decode(obj: Any) -> list[Record]:
    if not isinstance(obj, dict):
        return [parse_record(obj)]  # reports the type problem
    if "chosen" in obj or "rejected" in obj:
        obj = dict(obj)
        if "prompt" not in obj and "chosen" in obj and "rejected" in obj:
            prompt, obj["chosen"], obj["rejected"] = split_shared_prefix(
                obj["chosen"], obj["rejected"]
            )
            obj = {"prompt": prompt, **obj}
        return [parse_record(_canonical(obj, PAIR_FIELDS, EXTRA_PAIR_FIELDS), "pair")]
    return [parse_record(_canonical(obj, ("prompt",), EXTRA_PROMPT_FIELDS), "prompt")]


def _flat(record: PreferencePair | PromptRecord) -> dict[str, Any]:
    out = record_to_json(record)
    metadata = out.pop("metadata", {})
    clash = sorted(set(metadata) & set(out))
    if clash:
        raise ConversionError(f"metadata key {clash[0]!r} clashes with a TRL column of that name")
    return {**out, **metadata}


def encode(records: Sequence[Record]) -> list[Any]:
    out = []
    for record in records:
        if not isinstance(record, PreferencePair | PromptRecord):
            kind = type(record).__name__
            raise ConversionError(f"the TRL format holds preference pairs and prompts, not {kind}")
        out.append(_flat(record))
    return out


def detect(obj: Mapping[str, Any]) -> bool:
    if "chosen" not in obj or "rejected" not in obj:
        return False
    canonical = {*PAIR_FIELDS, *EXTRA_PAIR_FIELDS, "metadata"}
    return "prompt" not in obj or bool(set(obj) - canonical)


FORMAT = Format(
    name="trl",
    summary="TRL preference/prompt-only data; explicit or implicit prompt; extra columns kept",
    kinds=("pair", "prompt"),
    decode=decode,
    encode=encode,
    detect=detect,
)
