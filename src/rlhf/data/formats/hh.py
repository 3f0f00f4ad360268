"""Anthropic HH-RLHF: `chosen` and `rejected` are whole `\\n\\nHuman: ...\\n\\nAssistant: ...` dialogues.

Reading splits each dialogue into turns (Human -> `user`, Assistant -> `assistant`) and moves the
turns the two dialogues share into the prompt, ending it at the last shared user turn: `chosen` and
`rejected` are then the final assistant replies (or, for the few records whose dialogues diverge
earlier, the differing tails). Writing joins them back, byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rlhf.data.formats.base import ConversionError, Format
from rlhf.data.records import Message, PreferencePair, Record, Text
from rlhf.data.validation import InvalidRecordError

SPEAKERS = {"Human": "user", "Assistant": "assistant"}
ROLE_SPEAKERS = {role: speaker for speaker, role in SPEAKERS.items()}
TURN = re.compile(r"\n\n(Human|Assistant):")


def parse_dialogue(text: str, name: str) -> tuple[Message, ...]:
    """`\\n\\nHuman: hi\\n\\nAssistant: hello` -> (user: hi, assistant: hello), exactly invertible."""
    parts = TURN.split(text)
    if parts[0] or len(parts) < 3:
        raise InvalidRecordError([(name, r"not an HH dialogue: must start with '\n\nHuman:'")])
    messages = []
    for speaker, content in zip(parts[1::2], parts[2::2], strict=True):
        messages.append(Message(role=SPEAKERS[speaker], content=content.removeprefix(" ")))  # type: ignore[arg-type]
    dialogue = tuple(messages)
    if render_dialogue(dialogue) != text:
        reason = "a turn marker is not followed by a space; the dialogue cannot be split exactly"
        raise InvalidRecordError([(name, reason)])
    return dialogue


def render_dialogue(messages: Sequence[Message]) -> str:
    return "".join(f"\n\n{ROLE_SPEAKERS[m.role]}: {m.content}" for m in messages)


def decode(obj: Any) -> list[Record]:
    if not isinstance(obj, dict):
        raise InvalidRecordError([("record", "expected a JSON object with chosen and rejected")])
    errors = [(k, "missing") for k in ("chosen", "rejected") if k not in obj]
    errors += [
        (k, "expected a string")
        for k in ("chosen", "rejected")
        if k in obj and not isinstance(obj[k], str)
    ]
    errors += [
        (k, "unknown field for an HH record") for k in sorted(set(obj) - {"chosen", "rejected"})
    ]
    if errors:
        raise InvalidRecordError(errors)
    chosen, rejected = (
        parse_dialogue(obj["chosen"], "chosen"),
        parse_dialogue(obj["rejected"], "rejected"),
    )
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    while shared > 0 and chosen[shared - 1].role != "user":
        shared -= 1
    return [
        PreferencePair(prompt=chosen[:shared], chosen=chosen[shared:], rejected=rejected[shared:])
    ]


def _as_turns(text: Text, name: str, role: str) -> tuple[Message, ...]:
    if isinstance(text, str):
        return (Message(role=role, content=text),)  # type: ignore[arg-type]
    bad = [i for i, m in enumerate(text) if m.role not in ROLE_SPEAKERS]
    if bad:
        raise ConversionError(f"{name}[{bad[0]}]: HH dialogues have only user and assistant turns")
    return text


def encode(records: Sequence[Record]) -> list[Any]:
    out = []
    for record in records:
        if not isinstance(record, PreferencePair):
            raise ConversionError(
                f"the HH format holds preference pairs, not {type(record).__name__}"
            )
        prompt = _as_turns(record.prompt, "prompt", "user")
        out.append(
            {
                "chosen": render_dialogue(prompt + _as_turns(record.chosen, "chosen", "assistant")),
                "rejected": render_dialogue(
                    prompt + _as_turns(record.rejected, "rejected", "assistant")
                ),
            }
        )
    return out


def detect(obj: Mapping[str, Any]) -> bool:
    return set(obj) == {"chosen", "rejected"} and str(obj["chosen"]).startswith("\n\nHuman:")


FORMAT = Format(
    name="hh",
    summary="Anthropic HH-RLHF dialogues (chosen/rejected with \\n\\nHuman:/\\n\\nAssistant: turns)",
    kinds=("pair",),
    decode=decode,
    encode=encode,
    detect=detect,
)
