"""The canonical records of human feedback: the one data contract every part of rlhf shares.

Five kinds of record, documented with an example each in `docs/data-formats.md`:

- `PreferencePair`: a prompt and two responses, one preferred (or a tie);
- `Ranking`: a prompt and K >= 2 responses with a full or partial order, ties allowed;
- `Annotation`: one person's judgment of one item (a pair or a ranking), with how it was shown;
- `PromptRecord`: a prompt for online training;
- `Demonstration`: a prompt and the completion to imitate, for supervised fine-tuning (SFT).

The first three carry human judgments; prompts and demonstrations are training inputs.
Text is either plain (`str`) or conversational (a tuple of `Message`). The field names follow TRL's
dataset format (`prompt`, `chosen`, `rejected`, `completion`), so a TRL preference or
prompt-completion file is a valid rlhf file.
Records are immutable; parsing and validation live in `rlhf.data.validation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant", "tool")

Judgment = Literal["a", "b", "tie", "both_bad"]
JUDGMENTS: tuple[Judgment, ...] = ("a", "b", "tie", "both_bad")
"""`a`: the first response is better; `b`: the second; `tie`: equally good; `both_bad`: neither
is acceptable (no preference can be drawn)."""

SafetyFlag = Literal["harmful", "dishonest", "other"]
SAFETY_FLAGS: tuple[SafetyFlag, ...] = ("harmful", "dishonest", "other")

MIN_STRENGTH, MAX_STRENGTH = 1, 4
"""Strength of a preference: 1 = negligibly better, 2 = slightly, 3 = better, 4 = much better."""


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation, as in the OpenAI/TRL chat format."""

    role: Role
    content: str


Text: TypeAlias = str | tuple[Message, ...]
"""Plain text, or a conversation (a tuple of messages)."""


@dataclass(frozen=True, kw_only=True)
class PreferencePair:
    """A prompt with a preferred (`chosen`) and a dispreferred (`rejected`) response."""

    prompt: Text
    """The context both responses answer; empty only for TRL data with an implicit prompt."""
    chosen: Text
    """The preferred response (the completion only, not the prompt)."""
    rejected: Text
    """The other response."""
    id: str | None = None
    """A stable identifier, kept through conversions and imports."""
    source: str | None = None
    """Where the pair came from (dataset name, campaign, model)."""
    annotator: str | None = None
    """Who judged it, when known."""
    strength: int | None = None
    """How much better `chosen` is, 1 (negligibly) to 4 (much better)."""
    tie: bool = False
    """True when the two responses were judged equally good; `chosen`/`rejected` is then arbitrary."""
    confidence: float | None = None
    """Probability that `chosen` is truly preferred (a soft label from aggregation), in [0, 1]."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Anything else, kept verbatim."""


@dataclass(frozen=True, kw_only=True)
class Ranking:
    """A prompt with K >= 2 responses ordered by preference; ties and unranked responses allowed."""

    prompt: Text
    """The context all responses answer."""
    responses: tuple[Text, ...]
    """The K responses, in a fixed order that `ranks` refers to."""
    ranks: tuple[int | None, ...]
    """Rank of each response: 1 is best, equal ranks are ties, None leaves a response unranked."""
    id: str | None = None
    """A stable identifier, kept through conversions and imports."""
    source: str | None = None
    """Where the ranking came from."""
    annotator: str | None = None
    """Who ranked, when known."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Anything else, kept verbatim."""


@dataclass(frozen=True, kw_only=True)
class Annotation:
    """One annotator's judgment of one item (two responses, or K responses to rank)."""

    item_id: str
    """The item judged; several annotations of one item share it."""
    annotator: str
    """Who judged."""
    prompt: Text
    """The item's prompt."""
    responses: tuple[Text, ...]
    """The item's responses in canonical order: `a` is responses[0], `b` is responses[1]."""
    judgment: Judgment | None = None
    """For two responses: `a`, `b`, `tie` or `both_bad`. Exactly one of judgment and ranks is set."""
    ranks: tuple[int | None, ...] | None = None
    """For rankings: rank of each response (1 best, equal ranks tie, None unranked)."""
    strength: int | None = None
    """How strong the preference is, 1 to 4."""
    safety_flags: tuple[SafetyFlag, ...] = ()
    """Safety problems the annotator flagged: harmful, dishonest, other."""
    comment: str | None = None
    """Free text from the annotator."""
    display_order: tuple[int, ...] | None = None
    """Indexes of `responses` in the order shown (left first): (1, 0) means `b` was on the left."""
    seconds: float | None = None
    """Time the annotator spent on the item."""
    created_at: str | None = None
    """When the judgment was given, ISO 8601."""
    source: str | None = None
    """Where the annotation came from (campaign, dataset)."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Anything else, kept verbatim."""

    @property
    def shown_left(self) -> int | None:
        """Index of the response shown first (on the left), when recorded."""
        return self.display_order[0] if self.display_order else None


@dataclass(frozen=True, kw_only=True)
class PromptRecord:
    """A prompt for online training (generation, then scoring)."""

    prompt: Text
    """The prompt text or conversation."""
    id: str | None = None
    """A stable identifier."""
    source: str | None = None
    """Where the prompt came from."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Anything else (for example a reference answer), kept verbatim."""


@dataclass(frozen=True, kw_only=True)
class Demonstration:
    """A prompt and the completion a model should learn to produce (supervised fine-tuning)."""

    prompt: Text
    """The context; may be empty (`""`: plain language-model text; `()`: the assistant opens)."""
    completion: Text
    """What the model should learn to produce; the loss covers only this."""
    id: str | None = None
    """A stable identifier, kept through conversions."""
    source: str | None = None
    """Where the demonstration came from (dataset name, writer, model)."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Anything else, kept verbatim."""


Record: TypeAlias = PreferencePair | Ranking | Annotation | PromptRecord | Demonstration
RecordKind = Literal["pair", "ranking", "annotation", "prompt", "demonstration"]
RECORD_KINDS: dict[RecordKind, type[Record]] = {
    "pair": PreferencePair,
    "ranking": Ranking,
    "annotation": Annotation,
    "prompt": PromptRecord,
    "demonstration": Demonstration,
}

TEXT_FIELDS = ("prompt", "chosen", "rejected", "completion")
"""Record fields that hold one `Text`."""


def kind_of(record: Record) -> RecordKind:
    """The kind name of a record (`pair`, `ranking`, `annotation`, `prompt` or `demonstration`)."""
    for kind, cls in RECORD_KINDS.items():
        if isinstance(record, cls):
            return kind
    raise TypeError(f"not an rlhf record: {type(record).__name__}")


def is_conversational(text: Text) -> bool:
    """True when `text` is a conversation rather than plain text."""
    return isinstance(text, tuple)


def text_to_json(text: Text) -> str | list[dict[str, str]]:
    """Plain text as is; a conversation as a list of `{"role", "content"}` objects."""
    if isinstance(text, str):
        return text
    return [{"role": m.role, "content": m.content} for m in text]


def text_length(text: Text) -> int:
    """Number of characters of content in `text` (summed over messages)."""
    if isinstance(text, str):
        return len(text)
    return sum(len(m.content) for m in text)


def render_plain(text: Text) -> str:
    """Text for display or for models without a chat template: `role: content` per turn."""
    if isinstance(text, str):
        return text
    return "\n\n".join(f"{m.role}: {m.content}" for m in text)


def record_to_json(record: Record) -> dict[str, Any]:
    """The canonical JSON object of a record; unset optional fields are left out.

    Text fields are always written, even empty (a demonstration's prompt may be `""` or `[]`).
    """
    out: dict[str, Any] = {}
    for name in record.__dataclass_fields__:
        value = getattr(record, name)
        if name in TEXT_FIELDS:
            out[name] = text_to_json(value)
            continue
        if value is None or (name == "tie" and value is False) or (value == () or value == {}):
            continue
        if name == "responses":
            value = [text_to_json(t) for t in value]
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[name] = value
    return out
