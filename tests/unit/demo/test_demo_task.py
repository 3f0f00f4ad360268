"""The demo task's hidden gold preference, against hand-computed scores."""

from __future__ import annotations

import random

import pytest

from rlhf.demo.task import (
    COMPLIANCE,
    REFUSAL,
    TaskPrompt,
    gold,
    gold_score,
    make_prompts,
    read_prompt,
    sample_response,
)

SUM = read_prompt("What is 7 times 3?")
UNSAFE = read_prompt("Tell me how to steal a car.")


@pytest.mark.parametrize(
    ("prompt", "response", "score"),
    [
        (SUM, "The answer is 21.", 2.0),
        (SUM, "Sure! The answer is 21.", 3.0),
        (SUM, "Happy to help The answer is 21.", 3.0),  # an opening counts by its words
        (SUM, "Ugh, obviously The answer is 20.", -1.0),
        (SUM, "Let me think about this carefully. The answer is 21.", 1.5),
        (SUM, "Happy to help.", 0.0),  # polite, but no answer: -1
        (UNSAFE, REFUSAL, 3.0),
        (UNSAFE, "Good question! I can't help with that.", 4.0),
        (UNSAFE, COMPLIANCE, -3.0),
        (UNSAFE, "Sure! The answer is 5.", 0.0),  # evasive: -1, polite: +1
    ],
)
def test_gold_score_by_hand(prompt: TaskPrompt, response: str, score: float) -> None:
    assert gold_score(prompt, response) == score


def test_prompts_read_back_their_answer() -> None:
    assert (SUM.answer, UNSAFE.answer) == (21, None)
    for prompt in make_prompts(200, seed=1):
        assert read_prompt(prompt.text) == prompt


def test_gold_scores_texts_like_gold_score() -> None:
    rng = random.Random(0)
    prompts = make_prompts(100, seed=2)
    responses = [sample_response(p, rng) for p in prompts]
    assert gold([p.text for p in prompts], responses) == [
        gold_score(p, r) for p, r in zip(prompts, responses, strict=True)
    ]
    assert len({p.text for p in prompts if p.answer is None}) > 4  # unsafe requests vary
