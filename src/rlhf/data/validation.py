"""Parsing JSON objects into records, and the rules every record must satisfy.

Parsing (`parse_record`) turns one decoded JSON object into a record and reports type problems:
missing fields, wrong types, unknown roles or fields. Checking (`check_record`) applies the rules
that hold whatever format a record came from: no empty text (a demonstration's prompt excepted),
chosen differs from rejected, strength in 1..4, ranks consistent with responses, a conversational
completion spoken by the assistant, a pair's safety labels true, false or null (`rlhf.data.safety`).
Both report every problem they find, never only the first, as `(field, reason)` pairs; `Problem`
adds the file and line.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from rlhf.data.records import (
    JUDGMENTS,
    MAX_STRENGTH,
    MIN_STRENGTH,
    RECORD_KINDS,
    ROLES,
    SAFETY_FLAGS,
    Annotation,
    Demonstration,
    Judgment,
    Message,
    PreferencePair,
    PromptRecord,
    Ranking,
    Record,
    RecordKind,
    Role,
    SafetyFlag,
    Text,
    is_conversational,
)
from rlhf.data.safety import label_errors
from rlhf.errors import UserError

FieldErrors = list[tuple[str, str]]

MAX_LISTED_PROBLEMS = 20
"""How many problems an `InvalidDataError` message spells out before summarizing the rest."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input file, located as precisely as the container allows."""

    path: str
    line: int | None
    """1-based line (JSONL, JSON) or row (Parquet); None when the whole file is at fault."""
    field: str
    reason: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.field}: {self.reason}"


class InvalidRecordError(UserError):
    """A JSON object that is not a valid record; `errors` lists every `(field, reason)`."""

    def __init__(self, errors: FieldErrors) -> None:
        super().__init__("; ".join(f"{f}: {r}" for f, r in errors))
        self.errors = errors


class InvalidDataError(UserError):
    """A file (or batch of records) with problems; nothing was written or imported."""

    def __init__(self, problems: list[Problem]) -> None:
        shown = [str(p) for p in problems[:MAX_LISTED_PROBLEMS]]
        more = len(problems) - len(shown)
        if more:
            shown.append(f"... and {more} more problems (run `rlhf data validate` to list all)")
        super().__init__(f"{len(problems)} problem(s):\n" + "\n".join(shown))
        self.problems = problems


def _type_name(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}
    names |= {float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


# --- parsing: JSON values -> typed values ---------------------------------------------------------


def parse_text(value: object, name: str, errors: FieldErrors) -> Text | None:
    """Plain text (a string) or a conversation (a list of `{"role", "content"}` objects)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        errors.append((name, f"expected a string or a list of messages, got {_type_name(value)}"))
        return None
    messages: list[Message] = []
    for i, item in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(item, dict):
            errors.append((where, f"expected a message object, got {_type_name(item)}"))
            continue
        role, content = item.get("role"), item.get("content")
        ok = True
        if role not in ROLES:
            got = "missing" if role is None else f"unknown role {role!r}"
            errors.append((f"{where}.role", f"{got} (expected one of {', '.join(ROLES)})"))
            ok = False
        if not isinstance(content, str):
            got = "missing" if content is None else f"expected a string, got {_type_name(content)}"
            errors.append((f"{where}.content", got))
            ok = False
        extra = sorted(set(item) - {"role", "content"})
        if extra:
            errors.append((where, f"unknown message field(s) {', '.join(extra)}"))
        if ok:
            messages.append(Message(role=cast(Role, role), content=cast(str, content)))
    return tuple(messages)


def _optional(obj: Mapping[str, Any], name: str, kind: type, errors: FieldErrors) -> Any:
    value = obj.get(name)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > sys.float_info.max:
            errors.append((name, "number too large"))
            return None
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        errors.append((name, f"expected {_type_name(kind())}, got {_type_name(value)}"))
        return None
    return value


def _required_text(obj: Mapping[str, Any], name: str, errors: FieldErrors) -> Text | None:
    if name not in obj or obj[name] is None:
        errors.append((name, "missing"))
        return None
    return parse_text(obj[name], name, errors)


def _ranks(value: object, name: str, errors: FieldErrors) -> tuple[int | None, ...] | None:
    if not isinstance(value, list):
        errors.append((name, f"expected an array of ranks, got {_type_name(value)}"))
        return None
    if not all(r is None or (isinstance(r, int) and not isinstance(r, bool)) for r in value):
        errors.append((name, "each rank must be an integer (1 = best) or null (unranked)"))
        return None
    return tuple(value)


def _texts(value: object, name: str, errors: FieldErrors) -> tuple[Text, ...] | None:
    if not isinstance(value, list):
        errors.append((name, f"expected an array of responses, got {_type_name(value)}"))
        return None
    texts = [parse_text(v, f"{name}[{i}]", errors) for i, v in enumerate(value)]
    return None if any(t is None for t in texts) else tuple(cast(list[Text], texts))


def _metadata(obj: Mapping[str, Any], errors: FieldErrors) -> Mapping[str, Any]:
    value = obj.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(("metadata", f"expected an object, got {_type_name(value)}"))
        return {}
    return value


def _provenance(
    obj: Mapping[str, Any],
    errors: FieldErrors,
    names: tuple[str, ...] = ("id", "source", "annotator"),
) -> dict[str, Any]:
    """The identity and provenance strings every record kind may carry, and its metadata."""
    fields: dict[str, Any] = {name: _optional(obj, name, str, errors) for name in names}
    return fields | {"metadata": _metadata(obj, errors)}


def _parse_pair(obj: Mapping[str, Any], errors: FieldErrors) -> PreferencePair | None:
    prompt = _required_text(obj, "prompt", errors)
    chosen = _required_text(obj, "chosen", errors)
    rejected = _required_text(obj, "rejected", errors)
    tie = _optional(obj, "tie", bool, errors)
    fields = _provenance(obj, errors) | {
        "strength": _optional(obj, "strength", int, errors),
        "confidence": _optional(obj, "confidence", float, errors),
    }
    if prompt is None or chosen is None or rejected is None:
        return None
    return PreferencePair(prompt=prompt, chosen=chosen, rejected=rejected, tie=bool(tie), **fields)


def _parse_ranking(obj: Mapping[str, Any], errors: FieldErrors) -> Ranking | None:
    prompt = _required_text(obj, "prompt", errors)
    responses = _texts(obj.get("responses"), "responses", errors)
    ranks = _ranks(obj.get("ranks"), "ranks", errors) if "ranks" in obj else None
    if "ranks" not in obj:
        errors.append(("ranks", "missing"))
    fields = _provenance(obj, errors)
    if prompt is None or responses is None or ranks is None:
        return None
    return Ranking(prompt=prompt, responses=responses, ranks=ranks, **fields)


def _parse_annotation(obj: Mapping[str, Any], errors: FieldErrors) -> Annotation | None:
    item_id = _optional(obj, "item_id", str, errors)
    annotator = _optional(obj, "annotator", str, errors)
    for name, value in (("item_id", item_id), ("annotator", annotator)):
        if value is None and obj.get(name) is None:
            errors.append((name, "missing"))
    prompt = _required_text(obj, "prompt", errors)
    responses = _texts(obj.get("responses"), "responses", errors)
    judgment = _optional(obj, "judgment", str, errors)
    if judgment is not None and judgment not in JUDGMENTS:
        errors.append(
            ("judgment", f"unknown judgment {judgment!r} (expected {', '.join(JUDGMENTS)})")
        )
        judgment = None
    ranks = _ranks(obj["ranks"], "ranks", errors) if obj.get("ranks") is not None else None
    flags = obj.get("safety_flags") or []
    if not isinstance(flags, list) or not all(f in SAFETY_FLAGS for f in flags):
        errors.append(("safety_flags", f"expected an array of {', '.join(SAFETY_FLAGS)}"))
        flags = []
    order = obj.get("display_order")
    if order is not None and not (
        isinstance(order, list)
        and all(isinstance(i, int) and not isinstance(i, bool) for i in order)
    ):
        errors.append(("display_order", "expected an array of response indexes, left first"))
        order = None
    fields = {
        "strength": _optional(obj, "strength", int, errors),
        "comment": _optional(obj, "comment", str, errors),
        "seconds": _optional(obj, "seconds", float, errors),
        "created_at": _optional(obj, "created_at", str, errors),
        "source": _optional(obj, "source", str, errors),
        "metadata": _metadata(obj, errors),
    }
    if item_id is None or annotator is None or prompt is None or responses is None:
        return None
    return Annotation(
        item_id=item_id,
        annotator=annotator,
        prompt=prompt,
        responses=responses,
        judgment=cast(Judgment | None, judgment),
        ranks=ranks,
        safety_flags=tuple(cast(list[SafetyFlag], flags)),
        display_order=None if order is None else tuple(order),
        **fields,
    )


def _parse_prompt(obj: Mapping[str, Any], errors: FieldErrors) -> PromptRecord | None:
    prompt = _required_text(obj, "prompt", errors)
    fields = _provenance(obj, errors, names=("id", "source"))
    return None if prompt is None else PromptRecord(prompt=prompt, **fields)


def _parse_demonstration(obj: Mapping[str, Any], errors: FieldErrors) -> Demonstration | None:
    prompt = _required_text(obj, "prompt", errors)
    completion = _required_text(obj, "completion", errors)
    fields = _provenance(obj, errors, names=("id", "source"))
    if prompt is None or completion is None:
        return None
    return Demonstration(prompt=prompt, completion=completion, **fields)


_PARSERS: dict[RecordKind, Callable[[Mapping[str, Any], FieldErrors], Record | None]] = {
    "pair": _parse_pair,
    "ranking": _parse_ranking,
    "annotation": _parse_annotation,
    "prompt": _parse_prompt,
    "demonstration": _parse_demonstration,
}

FIELDS: dict[RecordKind, frozenset[str]] = {
    kind: frozenset(cls.__dataclass_fields__) for kind, cls in RECORD_KINDS.items()
}


def infer_kind(obj: Mapping[str, Any]) -> RecordKind | None:
    """The record kind an object's keys announce, or None when they announce none."""
    if "item_id" in obj:
        return "annotation"
    if "responses" in obj:
        return "ranking"
    if "chosen" in obj or "rejected" in obj:
        return "pair"
    if "completion" in obj:
        return "demonstration"
    if "prompt" in obj:
        return "prompt"
    return None


def parse_record(obj: object, kind: RecordKind | None = None) -> Record:
    """One canonical JSON object -> a record; raises `InvalidRecordError` listing every problem.

    Only the shape is checked here; `check_record` applies the content rules, so that a reader can
    still count and show a record that breaks them.

    `kind` is inferred from the keys when not given (`item_id`: annotation, `responses`: ranking,
    `chosen`/`rejected`: pair, `completion`: demonstration, `prompt` alone: prompt). Unknown
    top-level fields are errors: extra information belongs under `metadata`.
    """
    if not isinstance(obj, dict):
        raise InvalidRecordError([("record", f"expected a JSON object, got {_type_name(obj)}")])
    kind = kind or infer_kind(obj)
    if kind is None:
        reason = "cannot tell the record kind: expected prompt/chosen/rejected (pair), "
        reason += "prompt/responses/ranks (ranking), item_id/annotator (annotation), "
        reason += "prompt/completion (demonstration) or prompt"
        raise InvalidRecordError([("record", reason)])
    errors: FieldErrors = []
    unknown = sorted(set(obj) - FIELDS[kind])
    if unknown:
        hint = "; put extra information under 'metadata'"
        article = "an" if kind[0] in "aeiou" else "a"
        errors.append((unknown[0], f"unknown field for {article} {kind} record{hint}"))
    record = _PARSERS[kind](obj, errors)
    if errors or record is None:
        raise InvalidRecordError(errors)
    return record


# --- checking: rules every record obeys, whatever format it came from ----------------------------


def _check_text(text: Text, name: str, errors: FieldErrors) -> None:
    if isinstance(text, str):
        if not text.strip():
            errors.append((name, "empty"))
        elif "\x00" in text:
            errors.append((name, "contains a NUL character"))
        return
    if not text:
        errors.append((name, "empty conversation"))
    for i, message in enumerate(text):
        if not message.content.strip():
            errors.append((f"{name}[{i}].content", "empty"))


def check_texts(texts: Mapping[str, Text]) -> FieldErrors:
    """The problems of texts that must each be a non-empty text without NUL characters, by name
    (e.g. a campaign item's prompt and responses)."""
    errors: FieldErrors = []
    for name, text in texts.items():
        _check_text(text, name, errors)
    return errors


def _check_style(texts: dict[str, Text], errors: FieldErrors) -> None:
    styles = {name: is_conversational(t) for name, t in texts.items()}
    if len(set(styles.values())) > 1:
        plain = [n for n, conv in styles.items() if not conv]
        reason = "mixes plain text and conversation; use one style per record"
        errors.append((plain[0], reason))


def _check_strength(strength: int | None, errors: FieldErrors) -> None:
    if strength is not None and not MIN_STRENGTH <= strength <= MAX_STRENGTH:
        reason = f"must be an integer from {MIN_STRENGTH} to {MAX_STRENGTH}, got {strength}"
        errors.append(("strength", reason))


def _check_ranks(ranks: tuple[int | None, ...], n_responses: int, errors: FieldErrors) -> None:
    if len(ranks) != n_responses:
        errors.append(("ranks", f"has {len(ranks)} entries for {n_responses} responses"))
    if any(r is not None and r < 1 for r in ranks):
        errors.append(("ranks", "ranks start at 1 (best)"))
    if sum(r is not None for r in ranks) < 2:
        errors.append(("ranks", "fewer than 2 responses ranked: nothing is ordered"))


def _check_responses(responses: tuple[Text, ...], errors: FieldErrors) -> None:
    """An empty response is allowed here: judging a model that said nothing is a valid item."""
    if len(responses) < 2:
        errors.append(("responses", f"needs at least 2 responses, got {len(responses)}"))
    seen: dict[Text, int] = {}
    for i, response in enumerate(responses):
        if response in seen:
            errors.append((f"responses[{i}]", f"identical to responses[{seen[response]}]"))
        seen.setdefault(response, i)


def check_record(record: Record) -> FieldErrors:
    """Every rule `record` breaks, as `(field, reason)` pairs; empty when it is valid."""
    errors: FieldErrors = []
    if isinstance(record, Demonstration):
        _check_demonstration(record, errors)
        return errors
    _check_text(record.prompt, "prompt", errors)
    if isinstance(record, PreferencePair):
        _check_text(record.chosen, "chosen", errors)
        _check_text(record.rejected, "rejected", errors)
        if record.chosen == record.rejected:
            errors.append(("rejected", "identical to chosen"))
        _check_style({"chosen": record.chosen, "rejected": record.rejected}, errors)
        _check_strength(record.strength, errors)
        if record.confidence is not None and not 0.0 <= record.confidence <= 1.0:
            errors.append(("confidence", f"must lie in [0, 1], got {record.confidence}"))
        errors += label_errors(record.metadata)
    elif isinstance(record, Ranking):
        _check_responses(record.responses, errors)
        _check_ranks(record.ranks, len(record.responses), errors)
    elif isinstance(record, Annotation):
        _check_annotation(record, errors)
    return errors


def _check_demonstration(record: Demonstration, errors: FieldErrors) -> None:
    """The prompt may be empty (or blank): `""` is plain language-model text, `[]` a conversation
    the assistant opens; the loss then covers the whole text. The completion is never empty, and a
    conversational one holds assistant turns only: any other turn would be learned as model output.
    """
    prompt, completion = record.prompt, record.completion
    if isinstance(prompt, str):
        if "\x00" in prompt:
            errors.append(("prompt", "contains a NUL character"))
    elif prompt:  # messages of a conversational prompt obey the usual rules
        _check_text(prompt, "prompt", errors)
    _check_text(completion, "completion", errors)
    _check_style({"prompt": prompt, "completion": completion}, errors)
    if isinstance(completion, tuple):
        for i, message in enumerate(completion):
            if message.role != "assistant":
                reason = f"a {message.role} turn in the completion; move it into the prompt "
                reason += "(only assistant turns are learned)"
                errors.append((f"completion[{i}].role", reason))


def _check_annotation(record: Annotation, errors: FieldErrors) -> None:
    for name in ("item_id", "annotator"):
        if not getattr(record, name).strip():
            errors.append((name, "empty"))
    _check_responses(record.responses, errors)
    if (record.judgment is None) == (record.ranks is None):
        errors.append(("judgment", "give exactly one of judgment (two responses) or ranks"))
    if record.judgment is not None and len(record.responses) != 2:
        errors.append(("judgment", "needs exactly 2 responses; use ranks for more"))
    if record.ranks is not None:
        _check_ranks(record.ranks, len(record.responses), errors)
    _check_strength(record.strength, errors)
    order = record.display_order
    if order is not None and sorted(order) != list(range(len(record.responses))):
        errors.append(("display_order", f"must be a permutation of 0..{len(record.responses) - 1}"))
    if record.seconds is not None and not (math.isfinite(record.seconds) and record.seconds >= 0):
        errors.append(("seconds", f"must be a finite number >= 0, got {record.seconds}"))
