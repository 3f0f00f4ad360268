"""Tokenized examples: exact prompt/completion boundaries; packed rows compute what rows alone do."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from rlhf.data.records import Message
from rlhf.data.tokenize import TokenizationError, encode_completion, prompt_ids
from rlhf.train.collate import pack, packed_batch, pad_batch


def test_plain_completion_ends_with_eos_and_masks_only_the_completion(tokenizer: Any) -> None:
    example = encode_completion(tokenizer, "What is 2 plus 3?", " 2 plus 3 is 5.", max_length=64)
    completion = [t for t, m in zip(example.input_ids, example.completion_mask, strict=True) if m]
    assert completion[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(completion[:-1]) == " 2 plus 3 is 5."
    assert list(example.input_ids[: example.prompt_length]) == prompt_ids(
        tokenizer, "What is 2 plus 3?"
    )
    assert not example.truncated


def test_conversation_completion_is_the_assistant_turn(tokenizer: Any) -> None:
    prompt = (Message("user", "What is 2 plus 3?"),)
    completion = (Message("assistant", "5"),)
    example = encode_completion(tokenizer, prompt, completion, max_length=64)
    whole = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 plus 3?"}, {"role": "assistant", "content": "5"}],
        tokenize=False,
    )
    assert tokenizer.decode(example.input_ids) == whole
    tail = [t for t, m in zip(example.input_ids, example.completion_mask, strict=True) if m]
    assert tokenizer.decode(tail) == "5<|endoftext|>\n"


def test_truncation_keeps_the_start_of_the_completion_and_the_end_of_the_prompt(
    tokenizer: Any,
) -> None:
    prompt, completion = "What is 1 plus 1? " * 10, " 1 plus 1 is 2." * 10
    example = encode_completion(tokenizer, prompt, completion, max_length=20)
    full = encode_completion(tokenizer, prompt, completion, max_length=10_000)
    assert example.truncated
    assert len(example.input_ids) == 20
    head, tail = full.prompt_length, full.input_ids[full.prompt_length :]
    assert (
        example.input_ids[: example.prompt_length]
        == full.input_ids[head - example.prompt_length : head]
    )
    assert example.input_ids[example.prompt_length :] == tail[: 20 - example.prompt_length]


def test_mixed_styles_are_refused(tokenizer: Any) -> None:
    with pytest.raises(TokenizationError, match="both"):
        encode_completion(tokenizer, "plain", (Message("assistant", "hi"),), max_length=16)


def test_packed_rows_equal_separate_rows(tokenizer: Any, causal_lm: Any) -> None:
    texts = [("What is 1 plus 2?", " 3."), ("What is 10 plus 11?", " 21."), ("2 plus 2?", " 4.")]
    examples = [encode_completion(tokenizer, p, c, max_length=64) for p, c in texts]
    rows = pack(examples, length=40)
    assert len(rows) < len(examples)
    packed = packed_batch(rows, tokenizer.pad_token_id)
    alone = pad_batch(examples, tokenizer.pad_token_id)
    with torch.no_grad():
        packed_logits = causal_lm(**packed.model_inputs()).logits
        alone_logits = causal_lm(**alone.model_inputs()).logits
    for r, row in enumerate(rows):
        start = 0
        for example in row:
            n = len(example.input_ids)
            i = examples.index(example)
            torch.testing.assert_close(
                packed_logits[r, start : start + n], alone_logits[i, :n], atol=1e-5, rtol=1e-5
            )
            start += n
    assert int(packed.completion_mask.sum()) == int(alone.completion_mask.sum())
