"""Parsing and checking records: every rule gives the field and reason a user would need."""

from __future__ import annotations

from typing import Any

import pytest

from rlhf.data import (
    Annotation,
    Demonstration,
    InvalidRecordError,
    Message,
    PreferencePair,
    PromptRecord,
    Ranking,
    check_record,
    parse_record,
    record_to_json,
)

PAIR = {"prompt": "2+2?", "chosen": "4", "rejected": "5"}
CONVERSATION = {
    "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
    "chosen": [{"role": "assistant", "content": "4"}],
    "rejected": [{"role": "assistant", "content": "5"}],
}
RANKING = {"prompt": "A prime?", "responses": ["7", "9", "2"], "ranks": [1, 2, 1]}
ANNOTATION = {
    "item_id": "i1",
    "annotator": "ann",
    "prompt": "2+2?",
    "responses": ["4", "5"],
    "judgment": "a",
    "strength": 3,
    "safety_flags": ["harmful"],
    "display_order": [1, 0],
    "seconds": 12.5,
}
DEMONSTRATION = {"prompt": "The sky is", "completion": " blue.", "id": "d1", "source": "s"}
CHAT_DEMONSTRATION = {
    "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Sky?"}],
    "completion": [{"role": "assistant", "content": "Blue."}],
    "metadata": {"writer": "w1"},
}


def problems(obj: Any) -> list[tuple[str, str]]:
    """(field, reason) for every problem of `obj`: shape problems first, then content rules."""
    try:
        record = parse_record(obj)
    except InvalidRecordError as error:
        return error.errors
    return check_record(record)


@pytest.mark.parametrize(
    "obj",
    [
        PAIR,
        CONVERSATION,
        RANKING,
        ANNOTATION,
        {"prompt": "Hello", "metadata": {"answer": 1}},
        DEMONSTRATION,
        CHAT_DEMONSTRATION,
        {"prompt": "", "completion": "Plain language-model text."},
        {"prompt": [], "completion": [{"role": "assistant", "content": "I speak first."}]},
    ],
    ids=[
        "pair",
        "conversation",
        "ranking",
        "annotation",
        "prompt",
        "demonstration",
        "chat-demonstration",
        "language-modeling",
        "assistant-first",
    ],
)
def test_valid_records_round_trip_through_json(obj: dict[str, Any]) -> None:
    record = parse_record(obj)
    assert check_record(record) == []
    assert record_to_json(record) == obj
    assert parse_record(record_to_json(record)) == record


def test_parsed_types() -> None:
    pair = parse_record(CONVERSATION)
    assert isinstance(pair, PreferencePair)
    assert pair.prompt[1] == Message(role="user", content="2+2?")
    assert isinstance(parse_record(RANKING), Ranking)
    annotation = parse_record(ANNOTATION)
    assert isinstance(annotation, Annotation)
    assert annotation.shown_left == 1
    assert isinstance(parse_record({"prompt": "x"}), PromptRecord)
    demonstration = parse_record(CHAT_DEMONSTRATION)
    assert demonstration == Demonstration(
        prompt=(Message("system", "Be brief."), Message("user", "Sky?")),
        completion=(Message("assistant", "Blue."),),
        metadata={"writer": "w1"},
    )


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"prompt": "p", "chosen": "a"}, ("rejected", "missing")),
        ({**PAIR, "chosen": ""}, ("chosen", "empty")),
        ({**PAIR, "chosen": "   "}, ("chosen", "empty")),
        ({**PAIR, "rejected": "4"}, ("rejected", "identical to chosen")),
        ({**PAIR, "chosen": 4}, ("chosen", "expected a string or a list of messages, got integer")),
        ({**PAIR, "strength": 7}, ("strength", "must be an integer from 1 to 4, got 7")),
        ({**PAIR, "strength": True}, ("strength", "expected integer, got boolean")),
        ({**PAIR, "confidence": 1.5}, ("confidence", "must lie in [0, 1], got 1.5")),
        (
            {**PAIR, "score": 1},
            ("score", "unknown field for a pair record; put extra information under 'metadata'"),
        ),
        (
            {**CONVERSATION, "chosen": [{"role": "bot", "content": "4"}]},
            (
                "chosen[0].role",
                "unknown role 'bot' (expected one of system, user, assistant, tool)",
            ),
        ),
        ({**CONVERSATION, "chosen": [{"role": "assistant"}]}, ("chosen[0].content", "missing")),
        (
            {**CONVERSATION, "chosen": "4"},
            ("chosen", "mixes plain text and conversation; use one style per record"),
        ),
        ({**RANKING, "ranks": [1, 2]}, ("ranks", "has 2 entries for 3 responses")),
        ({**RANKING, "ranks": [0, 1, 2]}, ("ranks", "ranks start at 1 (best)")),
        (
            {**RANKING, "ranks": [1, None, None]},
            ("ranks", "fewer than 2 responses ranked: nothing is ordered"),
        ),
        ({**RANKING, "responses": ["7", "7", "2"]}, ("responses[1]", "identical to responses[0]")),
        (
            {**ANNOTATION, "judgment": "left"},
            ("judgment", "unknown judgment 'left' (expected a, b, tie, both_bad)"),
        ),
        (
            {**ANNOTATION, "ranks": [1, 2]},
            ("judgment", "give exactly one of judgment (two responses) or ranks"),
        ),
        (
            {**ANNOTATION, "display_order": [0, 0]},
            ("display_order", "must be a permutation of 0..1"),
        ),
        ({**ANNOTATION, "seconds": -1}, ("seconds", "must be a finite number >= 0, got -1.0")),
        (
            {**ANNOTATION, "safety_flags": ["rude"]},
            ("safety_flags", "expected an array of harmful, dishonest, other"),
        ),
        ([1, 2], ("record", "expected a JSON object, got array")),
        ({"completion": "x"}, ("prompt", "missing")),
        ({**DEMONSTRATION, "completion": None}, ("completion", "missing")),
        ({**DEMONSTRATION, "completion": "  "}, ("completion", "empty")),
        ({**DEMONSTRATION, "prompt": "a\x00b"}, ("prompt", "contains a NUL character")),
        (
            {**DEMONSTRATION, "annotator": "a"},
            (
                "annotator",
                "unknown field for a demonstration record; put extra information under 'metadata'",
            ),
        ),
        ({**CHAT_DEMONSTRATION, "completion": []}, ("completion", "empty conversation")),
        (
            {**CHAT_DEMONSTRATION, "prompt": [{"role": "user", "content": ""}]},
            ("prompt[0].content", "empty"),
        ),
        (
            {**CHAT_DEMONSTRATION, "completion": "Blue."},
            ("completion", "mixes plain text and conversation; use one style per record"),
        ),
        (
            {**CHAT_DEMONSTRATION, "prompt": ""},
            ("prompt", "mixes plain text and conversation; use one style per record"),
        ),
        (
            {
                **CHAT_DEMONSTRATION,
                "completion": [
                    {"role": "assistant", "content": "Blue."},
                    {"role": "user", "content": "Thanks."},
                ],
            },
            (
                "completion[1].role",
                "a user turn in the completion; move it into the prompt "
                "(only assistant turns are learned)",
            ),
        ),
    ],
)
def test_each_rule_names_field_and_reason(obj: Any, expected: tuple[str, str]) -> None:
    assert expected in problems(obj)


def test_every_problem_is_reported_not_only_the_first() -> None:
    found = problems({"prompt": "", "chosen": 1, "rejected": [{"role": "x", "content": 2}]})
    fields = {field for field, _ in found}
    assert {"chosen", "rejected[0].role", "rejected[0].content"} <= fields


def test_unknown_kind_says_what_is_expected() -> None:
    [(field, reason)] = problems({"text": "hello"})
    assert field == "record"
    assert "prompt/chosen/rejected" in reason
    assert "prompt/completion (demonstration)" in reason


def test_completion_announces_a_demonstration_unless_a_judgment_key_is_there() -> None:
    assert isinstance(parse_record({"prompt": "p", "completion": "c"}), Demonstration)
    [(field, reason)] = problems({"prompt": "p", "completion": "c", "chosen": "a", "rejected": "b"})
    assert (field, reason.split(";")[0]) == ("completion", "unknown field for a pair record")


def test_annotation_allows_empty_response_but_not_empty_prompt() -> None:
    assert problems({**ANNOTATION, "responses": ["", "5"]}) == []
    assert ("prompt", "empty") in problems({**ANNOTATION, "prompt": ""})
