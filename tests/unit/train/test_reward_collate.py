"""Token batches: length-sorted chunks, shared-prefix rows; both compute what separate rows do."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from rlhf.data.comparisons import ComparedPair, Comparison
from rlhf.models.reward import RewardModel, pad_token_ids
from rlhf.train.reward_collate import (
    TokenizedComparison,
    chunk_rows,
    collate_shared_prefix,
    collate_tokens,
)
from rlhf.train.reward_objective import RewardLossConfig

TEXTS = [
    ("What is 3 plus 4?", [" 3 plus 4 is 7.", " 8.", " It is 7, since 3 plus 4 is 7."]),
    ("What is 1 plus 1?", [" 2.", " 1 plus 1 is 3."]),
    ("What is 10 plus 11? Think about it.", [" 21.", " 10 plus 11 is 22, I think."]),
]


def test_chunks_are_sorted_and_within_budget() -> None:
    lengths = [5, 40, 12, 38, 7, 100]
    chunks = chunk_rows(lengths, max_tokens=80)
    assert chunks == [[5], [1, 3], [2, 4, 0]]
    assert [i for chunk in chunks for i in chunk] == sorted(range(6), key=lambda i: -lengths[i])
    assert all(len(c) * lengths[c[0]] <= 80 for c in chunks if len(c) > 1)


def examples(model: RewardModel) -> list[TokenizedComparison]:
    out = []
    for prompt, responses in TEXTS:
        head, tails = model.encode_shared(prompt, responses)
        rows = tuple(tuple(head + tail) for tail in tails)
        comparison = Comparison(prompt, tuple(responses), (ComparedPair(0, 1),))
        out.append(TokenizedComparison(rows, comparison, prompt_length=len(head)))
        assert list(rows[0]) == model.encode(prompt, responses[0])
    return out


@pytest.mark.parametrize("max_tokens", [10_000, 40, 1])
def test_every_layout_gives_the_rewards_of_separate_rows(
    tokenizer: Any, causal_lm: Any, max_tokens: int
) -> None:
    model = RewardModel(causal_lm.base_model, tokenizer, max_length=64)
    batch_examples = examples(model)
    rows = [row for e in batch_examples for row in e.rows]
    with torch.no_grad():
        alone = torch.cat([model(**pad_token_ids([row], model.pad_id)) for row in rows])
        for collate in (collate_tokens, collate_shared_prefix):
            batch = collate(batch_examples, model.pad_id, RewardLossConfig(), max_tokens=max_tokens)
            torch.testing.assert_close(model(**batch.inputs), alone, atol=1e-5, rtol=1e-5)
            assert batch.better.tolist() == [0, 3, 5]


def test_shared_prefix_computes_fewer_tokens(tokenizer: Any, causal_lm: Any) -> None:
    model = RewardModel(causal_lm.base_model, tokenizer, max_length=64)
    batch_examples = examples(model)
    loss = RewardLossConfig()
    shared = collate_shared_prefix(batch_examples, model.pad_id, loss, max_tokens=10_000)
    separate = collate_tokens(batch_examples, model.pad_id, loss, max_tokens=10_000)
    (shared_ids,) = [c["input_ids"] for c in shared.inputs["chunks"]]
    (separate_ids,) = [c["input_ids"] for c in separate.inputs["chunks"]]
    assert shared_ids.shape[0] == 3
    assert separate_ids.shape[0] == 7
    real_shared = sum(int(c["read_positions"].numel()) for c in shared.inputs["chunks"])
    assert real_shared == 7
