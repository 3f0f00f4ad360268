"""The formats users bring: TRL, HH-RLHF, summarize-from-feedback and PandaLM."""

from __future__ import annotations

from typing import Any

import pytest

from rlhf.data import (
    Annotation,
    InvalidRecordError,
    Message,
    PreferencePair,
    PromptRecord,
    detect_format,
    get_format,
)
from rlhf.data.convert import convert_for, ranked_pairs
from rlhf.data.formats import ConversionError
from rlhf.data.formats.trl import split_shared_prefix

TRL = get_format("trl")
HH = get_format("hh")


def test_trl_implicit_prompt_standard_splits_at_a_word_boundary() -> None:
    [pair] = TRL.decode({"chosen": "The sky is blue.", "rejected": "The sky is green."})
    assert pair == PreferencePair(prompt="The sky is", chosen=" blue.", rejected=" green.")


def test_trl_implicit_prompt_conversational() -> None:
    user = {"role": "user", "content": "What color is the sky?"}
    [pair] = TRL.decode(
        {
            "chosen": [user, {"role": "assistant", "content": "Blue."}],
            "rejected": [user, {"role": "assistant", "content": "Green."}],
        }
    )
    assert pair.prompt == (Message("user", "What color is the sky?"),)
    assert pair.chosen == (Message("assistant", "Blue."),)


def test_trl_extra_columns_survive_a_round_trip() -> None:
    row = {"prompt": "p", "chosen": "a", "rejected": "b", "score_chosen": 8.0, "id": "x"}
    [pair] = TRL.decode(row)
    assert pair.id == "x"
    assert pair.metadata == {"score_chosen": 8.0}
    assert TRL.encode([pair]) == [row]
    assert detect_format(row) is TRL


def test_trl_prompt_only() -> None:
    assert TRL.decode({"prompt": "Hello", "lang": "en"}) == [
        PromptRecord(prompt="Hello", metadata={"lang": "en"})
    ]


def test_split_shared_prefix_keeps_the_text() -> None:
    for chosen, rejected in [("ab cd", "ab ce"), ("same", "same"), ("x", "y"), ("a b", "a b c")]:
        prompt, c, r = split_shared_prefix(chosen, rejected)
        assert prompt + c == chosen
        assert prompt + r == rejected


HH_RECORD = {
    "chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: 2+2?\n\nAssistant: 4",
    "rejected": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: 2+2?\n\nAssistant: 5",
}


def test_hh_splits_into_prompt_messages_and_final_replies() -> None:
    [pair] = HH.decode(HH_RECORD)
    assert pair.prompt == (
        Message("user", "Hi"),
        Message("assistant", "Hello!"),
        Message("user", "2+2?"),
    )
    assert pair.chosen == (Message("assistant", "4"),)
    assert HH.encode([pair]) == [HH_RECORD]


def test_hh_dialogues_diverging_early_keep_the_differing_tails() -> None:
    record = {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Bye\n\nAssistant: Bye!",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Go away\n\nHuman: Rude\n\nAssistant: Yes",
    }
    [pair] = HH.decode(record)
    assert pair.prompt == (Message("user", "Hi"),)
    assert len(pair.chosen) == 3
    assert HH.encode([pair]) == [record]


def test_hh_rejects_text_that_is_not_a_dialogue_and_system_turns() -> None:
    with pytest.raises(InvalidRecordError, match="not an HH dialogue"):
        HH.decode({"chosen": "Hello", "rejected": "\n\nHuman: x\n\nAssistant: y"})
    system = PreferencePair(
        prompt=(Message("system", "s"), Message("user", "u")),
        chosen=(Message("assistant", "a"),),
        rejected=(Message("assistant", "b"),),
    )
    with pytest.raises(ConversionError, match="only user and assistant"):
        HH.encode([system])


SUMMARIZE = {
    "info": {"id": "t3_x", "post": "My post", "title": "T", "subreddit": "r"},
    "split": "valid1",
    "summaries": [
        {"text": " one", "policy": "p0", "note": ""},
        {"text": " two", "policy": "p1", "note": "n"},
    ],
    "choice": 1,
    "worker": "w1",
    "batch": "batch13",
    "extra": {"confidence": 8},
}


def test_summarize_maps_confidence_to_strength_and_back() -> None:
    fmt = get_format("summarize")
    [annotation] = fmt.decode(SUMMARIZE)
    assert isinstance(annotation, Annotation)
    assert (annotation.judgment, annotation.strength, annotation.annotator) == ("b", 3, "w1")
    assert annotation.prompt == "SUBREDDIT: r/r\nTITLE: T\nPOST: My post\n\nTL;DR:"
    assert fmt.encode([annotation]) == [SUMMARIZE]
    assert detect_format(SUMMARIZE) is fmt


def test_pandalm_reads_three_annotations_and_writes_one_object() -> None:
    fmt = get_format("pandalm")
    obj: dict[str, Any] = {
        "idx": 5,
        "motivation_app": "m",
        "cmp_key": "a_b",
        "instruction": "Say yes.",
        "input": "",
        "response1": True,
        "response2": "No",
        "annotator1": 1,
        "annotator2": 0,
        "annotator3": 2,
    }
    annotations = fmt.decode(obj)
    assert [a.judgment for a in annotations] == ["a", "tie", "b"]  # type: ignore[union-attr]
    assert annotations[0].responses == ("True", "No")  # type: ignore[union-attr]
    assert fmt.encode(annotations) == [obj]


def test_annotations_convert_to_pairs_for_pair_formats() -> None:
    base = {"item_id": "i", "prompt": "p", "responses": ("x", "y")}
    annotations = [
        Annotation(annotator="a1", judgment="b", strength=2, **base),  # type: ignore[arg-type]
        Annotation(annotator="a2", judgment="tie", **base),  # type: ignore[arg-type]
        Annotation(annotator="a3", judgment="both_bad", **base),  # type: ignore[arg-type]
    ]
    converted = convert_for(annotations, TRL)
    assert converted.dropped == 1
    first, tie = converted.records
    assert isinstance(first, PreferencePair)
    assert (first.chosen, first.rejected, first.strength) == (
        "y",
        "x",
        2,
    )
    assert isinstance(tie, PreferencePair)
    assert tie.tie
    with pytest.raises(ConversionError, match="holds annotation records"):
        convert_for([PreferencePair(prompt="p", chosen="a", rejected="b")], get_format("pandalm"))


def test_ranked_pairs_are_all_implied_pairs_without_ties() -> None:
    assert sorted(ranked_pairs(["a", "b", "c", "d"], [2, 1, 2, None])) == [(1, 0), (1, 2)]
