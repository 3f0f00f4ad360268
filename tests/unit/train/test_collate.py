"""Tokenized examples: exact prompt/completion boundaries; packed rows and pair rows compute what
rows alone do; log-probs skip the logits no loss reads."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from rlhf.data.records import Message
from rlhf.data.tokenize import TokenizationError, encode_completion, prompt_ids
from rlhf.train.collate import (
    completion_logprobs,
    masked_logprobs,
    pack,
    packed_batch,
    pad_batch,
    shared_prefix_batch,
)


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


def _shared(a: list[int], b: list[int]) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def test_pair_rows_give_the_logprobs_of_separate_rows(tokenizer: Any, causal_lm: Any) -> None:
    """Whole prompts shared, prompts cut to different lengths (partly or not at all shared), an
    empty prompt (the bos token alone)."""
    long = " " + " ".join(str(i) for i in range(30))
    triples = [
        ("What is 1 plus 2?", " 3.", " 4 or so."),
        ("Add 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 and 16.", long, " 136."),
        ("What is 1 plus 2 plus 3 plus 4 plus 5 plus 6 plus 7 plus 8 plus 9?", long, " 45."),
        ("", " 5.", " 6."),
    ]
    pairs = [
        (
            encode_completion(tokenizer, p, c, max_length=24),
            encode_completion(tokenizer, p, r, max_length=24),
        )
        for p, c, r in triples
    ]
    shared = [_shared(list(c.input_ids), list(r.input_ids)) for c, r in pairs]
    prompts = [min(c.prompt_length, r.prompt_length) for c, r in pairs]
    assert shared[0] == prompts[0]  # the whole prompt
    assert 0 < shared[1] < prompts[1]  # part of it
    assert shared[2] == 0  # none of it
    tokens, rejected_mask = shared_prefix_batch(pairs, tokenizer.pad_token_id)
    assert tokens.input_ids.shape[0] == len(pairs)
    alone = pad_batch([c for c, _ in pairs] + [r for _, r in pairs], tokenizer.pad_token_id)
    with torch.no_grad():
        together = masked_logprobs(
            causal_lm, tokens, torch.stack([tokens.completion_mask, rejected_mask])
        )
        separate = completion_logprobs(causal_lm, alone)
    torch.testing.assert_close(together.flatten(), separate, atol=1e-4, rtol=1e-5)
    counted = sum(sum(e.completion_mask[1:]) for pair in pairs for e in pair)
    assert int(rejected_mask[:, 1:].sum() + tokens.completion_mask[:, 1:].sum()) == counted


def test_logits_before_the_first_completion_are_not_computed(
    tokenizer: Any, causal_lm: Any
) -> None:
    examples = [
        encode_completion(tokenizer, "What is 10 plus 11?", " 21.", max_length=64),
        encode_completion(tokenizer, "What is 10 plus 11 plus 12?", " 33.", max_length=64),
    ]
    batch = pad_batch(examples, tokenizer.pad_token_id)
    assert batch.first_target == examples[0].prompt_length
    seen: list[int] = []
    hook = causal_lm.get_output_embeddings().register_forward_hook(
        lambda _module, _inputs, output: seen.append(output.shape[1])
    )
    try:
        with torch.no_grad():
            got = completion_logprobs(causal_lm, batch)
    finally:
        hook.remove()
    assert seen == [batch.input_ids.shape[1] - batch.first_target + 1]
    with torch.no_grad():
        logits = causal_lm(**batch.model_inputs()).logits
    full = logits.log_softmax(-1)[:, :-1].gather(-1, batch.input_ids[:, 1:, None])[..., 0]
    expected = (full * batch.completion_mask[:, 1:]).sum(-1)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-5)
