"""Shared fixtures for `rlhf.models` tests: a small corpus and one tokenizer trained on it."""

from __future__ import annotations

import itertools

import pytest
from transformers import PreTrainedTokenizerFast

from rlhf.models import train_bpe_tokenizer

_SUBJECTS = ("The cat", "A dog", "My neighbour", "The café owner", "Zoë", "The robot")
_VERBS = ("likes", "watches", "paints", "follows", "ignores")
_OBJECTS = ("the river.", "green apples!", "the naïve student?", "a red kite 🪁", "日本の山")


def make_corpus() -> list[str]:
    """A few hundred short sentences, some with accents, CJK and emoji."""
    sentences = [
        f"{subject} {verb} {obj}"
        for subject, verb, obj in itertools.product(_SUBJECTS, _VERBS, _OBJECTS)
    ]
    numbered = [f"Line {i}: {s}" for i, s in enumerate(sentences)]
    return sentences + numbered + [s.lower() for s in sentences]


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return make_corpus()


@pytest.fixture(scope="session")
def tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained once per session, without a cache."""
    return train_bpe_tokenizer(corpus, vocab_size=400)
