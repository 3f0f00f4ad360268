"""A tiny tokenizer and models shared by the trainer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rlhf.models import TinyModelConfig, tiny_causal_lm, train_bpe_tokenizer

SENTENCES = [
    f"What is {a} plus {b}? {a} plus {b} is {a + b}." for a in range(12) for b in range(12)
]


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return train_bpe_tokenizer(SENTENCES, vocab_size=320, cache_dir=tmp_path_factory.mktemp("tok"))


@pytest.fixture(params=["gpt2", "llama"])
def causal_lm(request: pytest.FixtureRequest, tokenizer: Any) -> Any:
    config = TinyModelConfig(arch=request.param, vocab_size=len(tokenizer), hidden_size=32)
    return tiny_causal_lm(config, tokenizer=tokenizer).eval()


@pytest.fixture
def saved_lm(tmp_path: Path, tokenizer: Any) -> Path:
    from rlhf.models import save_model

    config = TinyModelConfig(arch="gpt2", vocab_size=len(tokenizer), hidden_size=32)
    return save_model(tiny_causal_lm(config, tokenizer=tokenizer), tokenizer, tmp_path / "lm")
