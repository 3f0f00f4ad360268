"""TRL's dataset formats: preference, prompt-only and SFT data, plain (strings) or conversational.

Preference records (`prompt`/`chosen`/`rejected`) read with an explicit prompt or an implicit one
(`chosen` and `rejected` hold the whole text and share it as a prefix). The three SFT types read as
demonstrations:

- prompt-completion, `{"prompt", "completion"}`: as is;
- conversational language modeling, `{"messages": [...]}`: the trailing assistant turns are the
  completion, every message before them the prompt (empty when the assistant speaks first);
- standard language modeling, `{"text": ...}`: the text is the completion, the prompt is `""`.

Unpaired preference records (`prompt`/`completion`/`label`, for KTO) are refused rather than read
as demonstrations, which would teach the model the completions labelled bad.

Extra columns are kept: rlhf's own fields (`id`, `source`, and for pairs `annotator`, `strength`,
`tie`, `confidence`) map to those fields, anything else to `metadata`. Writing uses the
explicit-prompt and prompt-completion forms with the same flat extra columns, which TRL ignores, so
TRL -> rlhf -> TRL loses nothing (language-modeling records come back as prompt-completion).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rlhf.data.formats.base import ConversionError, Format
from rlhf.data.records import (
    Demonstration,
    Message,
    PreferencePair,
    PromptRecord,
    Record,
    record_to_json,
)
from rlhf.data.validation import FieldErrors, InvalidRecordError, parse_record, parse_text

PAIR_FIELDS = ("prompt", "chosen", "rejected")
EXTRA_PAIR_FIELDS = ("id", "source", "annotator", "strength", "tie", "confidence")
EXTRA_PROMPT_FIELDS = ("id", "source")
DEMONSTRATION_FIELDS = ("prompt", "completion")
LANGUAGE_MODELING_FIELDS = ("messages", "text")


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


def completion_start(messages: Sequence[Message]) -> int:
    """Where a conversation's trailing assistant turns start: they are the completion to learn.

    Raises `InvalidRecordError` when the conversation is empty or does not end with the assistant.
    """
    if not messages:
        raise InvalidRecordError([("messages", "empty conversation")])
    if messages[-1].role != "assistant":
        reason = f"the last message is from the {messages[-1].role}, not the assistant: nothing to "
        reason += "learn; end each conversation with the assistant's reply"
        raise InvalidRecordError([(f"messages[{len(messages) - 1}].role", reason)])
    start = len(messages)
    while start > 0 and messages[start - 1].role == "assistant":
        start -= 1
    return start


def _language_modeling(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A `messages` (or else `text`) object as a prompt-completion object; other columns kept.

    Problems are located in the file's own fields (`messages[3].content`), not in the record's.
    """
    name = "messages" if "messages" in obj else "text"
    if "prompt" in obj:
        reason = f"give either {name} (the whole text) or prompt with completion, not both"
        raise InvalidRecordError([("prompt", reason)])
    value = obj[name]
    rest = {k: v for k, v in obj.items() if k != name}
    errors: FieldErrors = []
    if name == "text":
        if not isinstance(value, str):
            errors.append(("text", "expected a string; conversations go under 'messages'"))
        elif not value.strip():
            errors.append(("text", "empty"))
        elif "\x00" in value:
            errors.append(("text", "contains a NUL character"))
        if errors:
            raise InvalidRecordError(errors)
        return {"prompt": "", "completion": value, **rest}
    messages = parse_text(value, "messages", errors)
    if isinstance(messages, str):
        errors = [("messages", "expected a list of messages; plain text goes under 'text'")]
    elif messages is not None:
        blank = [i for i, m in enumerate(messages) if not m.content.strip()]
        errors += [(f"messages[{i}].content", "empty") for i in blank]
    if errors or not isinstance(messages, tuple):
        raise InvalidRecordError(errors)
    start = completion_start(messages)
    return {"prompt": value[:start], "completion": value[start:], **rest}


def decode(obj: Any) -> list[Record]:
    """One TRL object -> its record. SFT types go by TRL's own precedence: prompt-completion, then
    `messages`, then `text` (a column of a type not used is kept in `metadata`)."""
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
    if "completion" not in obj and any(k in obj for k in LANGUAGE_MODELING_FIELDS):
        obj = _language_modeling(obj)
    if "completion" in obj:
        if isinstance(obj.get("label"), bool):
            reason = "a TRL unpaired-preference (KTO) record: rlhf does not read these, and a "
            reason += "demonstration is always to be imitated; if `label` means something else, "
            reason += "rename the column"
            raise InvalidRecordError([("label", reason)])
        demonstration = _canonical(obj, DEMONSTRATION_FIELDS, EXTRA_PROMPT_FIELDS)
        return [parse_record(demonstration, "demonstration")]
    return [parse_record(_canonical(obj, ("prompt",), EXTRA_PROMPT_FIELDS), "prompt")]


def _flat(record: PreferencePair | PromptRecord | Demonstration) -> dict[str, Any]:
    out = record_to_json(record)
    metadata = out.pop("metadata", {})
    clash = sorted(set(metadata) & set(out))
    if clash:
        raise ConversionError(f"metadata key {clash[0]!r} clashes with a TRL column of that name")
    return {**out, **metadata}


def encode(records: Sequence[Record]) -> list[Any]:
    out = []
    for record in records:
        if not isinstance(record, PreferencePair | PromptRecord | Demonstration):
            kind = type(record).__name__
            raise ConversionError(
                f"the TRL format holds preference pairs, prompts and demonstrations, not {kind}"
            )
        out.append(_flat(record))
    return out


def detect(obj: Mapping[str, Any]) -> bool:
    """TRL data that the canonical format would not read the same: an implicit prompt, extra
    columns, or an SFT type without its own rlhf form (`messages`, `text`)."""
    if any(k in obj for k in LANGUAGE_MODELING_FIELDS):
        return True
    if "chosen" in obj and "rejected" in obj:
        canonical = {*PAIR_FIELDS, *EXTRA_PAIR_FIELDS, "metadata"}
        return "prompt" not in obj or bool(set(obj) - canonical)
    if "completion" in obj:
        return bool(set(obj) - {*DEMONSTRATION_FIELDS, *EXTRA_PROMPT_FIELDS, "metadata"})
    return False


FORMAT = Format(
    name="trl",
    summary="TRL preference, prompt-only and SFT data (prompt-completion, messages, text)",
    kinds=("pair", "prompt", "demonstration"),
    decode=decode,
    encode=encode,
    detect=detect,
)
