"""The formats users bring: TRL (preference and SFT), HH-RLHF, summarize-from-feedback, PandaLM."""

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
    check_record,
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


USER = {"role": "user", "content": "What color is the sky?"}
ASSISTANT = {"role": "assistant", "content": "It is blue."}


def test_trl_prompt_completion_standard_and_conversational() -> None:
    assert TRL.decode({"prompt": "The sky is", "completion": " blue."}) == [
        Demonstration(prompt="The sky is", completion=" blue.")
    ]
    [chat] = TRL.decode({"prompt": [USER], "completion": [ASSISTANT]})
    assert chat == Demonstration(
        prompt=(Message("user", "What color is the sky?"),),
        completion=(Message("assistant", "It is blue."),),
    )


def test_trl_prompt_completion_extra_columns_survive_a_round_trip() -> None:
    row = {"prompt": "p", "completion": "c", "id": "x", "split": "train", "score": 0.5}
    [demonstration] = TRL.decode(row)
    assert demonstration == Demonstration(
        prompt="p", completion="c", id="x", metadata={"split": "train", "score": 0.5}
    )
    assert TRL.encode([demonstration]) == [row]
    assert detect_format(row) is TRL


def test_trl_messages_learn_the_trailing_assistant_turns() -> None:
    follow_up = {"role": "user", "content": "Why?"}
    because = {"role": "assistant", "content": "Rayleigh scattering."}
    more = {"role": "assistant", "content": "Blue light scatters most."}
    row = {"messages": [USER, ASSISTANT, follow_up, because, more], "lang": "en"}
    [demonstration] = TRL.decode(row)
    assert isinstance(demonstration, Demonstration)
    assert [m.content for m in demonstration.prompt] == [  # type: ignore[union-attr]
        "What color is the sky?",
        "It is blue.",
        "Why?",
    ]
    assert demonstration.completion == (
        Message("assistant", "Rayleigh scattering."),
        Message("assistant", "Blue light scatters most."),
    )
    assert demonstration.metadata == {"lang": "en"}
    assert TRL.encode([demonstration]) == [
        {"prompt": [USER, ASSISTANT, follow_up], "completion": [because, more], "lang": "en"}
    ]
    assert detect_format(row) is TRL


def test_trl_messages_opened_by_the_assistant_have_an_empty_prompt() -> None:
    [demonstration] = TRL.decode({"messages": [ASSISTANT]})
    assert demonstration == Demonstration(
        prompt=(), completion=(Message("assistant", "It is blue."),)
    )
    assert TRL.encode([demonstration]) == [{"prompt": [], "completion": [ASSISTANT]}]


def test_trl_text_is_a_completion_with_an_empty_prompt() -> None:
    row = {"text": "The sky is blue.", "source": "wiki"}
    assert TRL.decode(row) == [
        Demonstration(prompt="", completion="The sky is blue.", source="wiki")
    ]
    assert detect_format(row) is TRL
    assert TRL.encode(TRL.decode(row)) == [
        {"prompt": "", "completion": "The sky is blue.", "source": "wiki"}
    ]


def test_trl_prompt_completion_takes_precedence_over_text_and_messages_as_in_trl() -> None:
    [demonstration] = TRL.decode({"prompt": "p", "completion": "c", "text": "pc"})
    assert demonstration == Demonstration(prompt="p", completion="c", metadata={"text": "pc"})
    [chat] = TRL.decode({"messages": [ASSISTANT], "text": "It is blue."})
    assert chat.metadata == {"text": "It is blue."}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {"messages": [ASSISTANT, USER]},
            (
                "messages[1].role",
                "the last message is from the user, not the assistant: nothing to learn; "
                "end each conversation with the assistant's reply",
            ),
        ),
        ({"messages": []}, ("messages", "empty conversation")),
        (
            {"messages": [USER, {"role": "bot", "content": "x"}]},
            (
                "messages[1].role",
                "unknown role 'bot' (expected one of system, user, assistant, tool)",
            ),
        ),
        (
            {"messages": [USER, {"role": "assistant", "content": " "}]},
            ("messages[1].content", "empty"),
        ),
        (
            {"messages": "hi"},
            ("messages", "expected a list of messages; plain text goes under 'text'"),
        ),
        ({"text": ""}, ("text", "empty")),
        ({"text": [USER]}, ("text", "expected a string; conversations go under 'messages'")),
        (
            {"prompt": "p", "text": "pc"},
            ("prompt", "give either text (the whole text) or prompt with completion, not both"),
        ),
        ({"prompt": "p", "completion": ""}, ("completion", "empty")),
        (
            {"prompt": [USER], "completion": [USER]},
            (
                "completion[0].role",
                "a user turn in the completion; move it into the prompt "
                "(only assistant turns are learned)",
            ),
        ),
    ],
)
def test_trl_sft_problems_name_the_field_of_the_file(
    row: dict[str, Any], expected: tuple[str, str]
) -> None:
    try:
        records = TRL.decode(row)
    except InvalidRecordError as error:
        found = error.errors
    else:
        found = [problem for record in records for problem in check_record(record)]
    assert expected in found


def test_trl_unpaired_preference_is_refused_not_read_as_demonstrations() -> None:
    row = {"prompt": "The sky is", "completion": " green.", "label": False}
    assert detect_format(row) is TRL
    with pytest.raises(InvalidRecordError, match=r"unpaired-preference \(KTO\)"):
        TRL.decode(row)
    [kept] = TRL.decode({"prompt": "p", "completion": "c", "label": "physics"})
    assert kept.metadata == {"label": "physics"}


def test_detection_of_sft_files_keeps_canonical_files_canonical() -> None:
    rlhf = get_format("rlhf")
    assert detect_format({"prompt": "p", "completion": "c"}) is rlhf
    assert detect_format({"prompt": "p", "completion": "c", "id": "i", "metadata": {}}) is rlhf
    assert detect_format({"prompt": "p", "chosen": "a", "rejected": "b"}) is rlhf
    assert detect_format({"prompt": "p"}) is rlhf
    assert detect_format({"messages": [USER, ASSISTANT]}) is TRL
    assert detect_format({"text": "t"}) is TRL
    assert detect_format({"chosen": "a b", "rejected": "a c"}) is TRL
    assert detect_format(HH_RECORD) is HH


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


def test_demonstrations_do_not_become_pairs_or_annotations() -> None:
    demonstrations = [Demonstration(prompt="p", completion="c")]
    assert convert_for(demonstrations, TRL).records == demonstrations
    for name in ("hh", "summarize", "pandalm"):
        with pytest.raises(ConversionError, match="demonstration records cannot become them") as e:
            convert_for(demonstrations, get_format(name))
        assert "one response and no judgment" in str(e.value)
    with pytest.raises(ConversionError, match="preference pairs, prompts and demonstrations"):
        TRL.encode([Annotation(item_id="i", annotator="a", prompt="p", responses=("x", "y"))])


def test_ranked_pairs_are_all_implied_pairs_without_ties() -> None:
    assert sorted(ranked_pairs(["a", "b", "c", "d"], [2, 1, 2, None])) == [(1, 0), (1, 2)]
