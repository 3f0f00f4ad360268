"""A few records of each kind for the store tests: full and minimal, plain and conversational."""

from __future__ import annotations

from rlhf.data import Annotation, Message, PreferencePair, PromptRecord, Ranking

CONVERSATION = (Message(role="system", content="Be brief."), Message(role="user", content="Hi!"))

PAIRS = [
    PreferencePair(
        prompt="What is 2 + 2?",
        chosen="4",
        rejected="5",
        id="pair-1",
        source="unit",
        annotator="alice",
        strength=3,
        confidence=0.875,
        metadata={"batch": 7, "tags": ["math", "easy"]},
    ),
    PreferencePair(prompt="Name a colour.", chosen="Blue.", rejected="Seven."),
    PreferencePair(prompt="Name a colour.", chosen="Red.", rejected="Green.", tie=True),
    PreferencePair(
        prompt=CONVERSATION,
        chosen=(Message(role="assistant", content="Hello!"),),
        rejected=(Message(role="assistant", content="Go away."),),
        annotator="bob",
    ),
]

RANKINGS = [
    Ranking(
        prompt="Rank the haiku.",
        responses=("Old pond, frog.", "Leaves fall.", "Snow on snow."),
        ranks=(1, None, 2),
        id="rank-1",
        source="unit",
        annotator="carol",
        metadata={"round": 2},
    ),
    Ranking(prompt="Rank these.", responses=("x", "y"), ranks=(1, 1)),
]

ANNOTATIONS = [
    Annotation(
        item_id="item-a",
        annotator="alice",
        prompt="Summarize: the cat sat on the mat.",
        responses=("A cat sat.", "A mat."),
        judgment="b",
        strength=2,
        safety_flags=("harmful", "other"),
        comment="close call",
        display_order=(1, 0),
        seconds=12.5,
        created_at="2024-05-01T12:00:00.250000+00:00",
        source="campaign-1",
        metadata={"ui": "v1"},
    ),
    Annotation(
        item_id="item-a",
        annotator="bob",
        prompt="Summarize: the cat sat on the mat.",
        responses=("A cat sat.", "A mat."),
        judgment="both_bad",
    ),
    Annotation(
        item_id="item-b",
        annotator="alice",
        prompt=CONVERSATION,
        responses=(
            (Message(role="assistant", content="Hello."),),
            (Message(role="assistant", content="Hey!"),),
            (Message(role="assistant", content="Greetings."),),
        ),
        ranks=(2, 1, None),
    ),
]

PROMPTS = [
    PromptRecord(prompt="Tell me a story.", id="story", source="tiny", metadata={"ref": "Once"}),
    PromptRecord(prompt=CONVERSATION),
    PromptRecord(prompt="Write a limerick."),
]
