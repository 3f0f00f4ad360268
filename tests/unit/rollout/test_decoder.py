"""The decoding fast path against the model's own forward: which models get it, and the same
logits, tokens and log-probs as the `transformers` path (prefill, steps, dropped rows, LoRA)."""

from __future__ import annotations

import copy
import importlib
from typing import Any

import pytest
import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaForCausalLM,
    Qwen2ForCausalLM,
)

from rlhf.models.lora import LoraConfig, adapters_off, add_adapters
from rlhf.rollout import Rollout, SamplingConfig, generate, left_pad
from rlhf.rollout.cache import generation_cache
from rlhf.rollout.decoder import (
    GPT2Decoder,
    LlamaDecoder,
    TransformersDecoder,
    _attend_one,
    _attention_bias,
    decoder_for,
    fast_decoder,
)

generate_module = importlib.import_module("rlhf.rollout.generate")  # `generate` hides the module


def full_forward_logits(model: Any, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The model's logits at the last column, from one pass over every column (no cache): (B, V)."""
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    output = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False)
    logits: torch.Tensor = output.logits[:, -1]
    return logits


def decode_and_compare(model: Any, prompts: list[list[int]], pad: int, steps: int = 6) -> None:
    """Prefill, then `steps` steps of tokens fed to both paths (a row leaves the batch at step 2):
    at every pass the fast path's logits equal a full forward pass over all columns so far."""
    ids, mask = left_pad(prompts, pad_token_id=pad, device="cpu")
    capacity = ids.shape[1] + steps
    fast, cache = (
        fast_decoder(model, capacity=capacity),
        generation_cache(model.config, capacity=capacity),
    )
    assert fast is not None
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    with torch.inference_mode():
        logits = fast(ids, positions, mask, cache)
        torch.testing.assert_close(logits, full_forward_logits(model, ids, mask), rtol=0, atol=1e-5)
        for step in range(steps):
            tokens = logits.argmax(dim=-1)  # (b,)
            if step == 2:  # row 1 ends: it leaves the batch and the cache
                keep = torch.tensor([r for r in range(len(ids)) if r != 1])
                ids, mask, positions, tokens = ids[keep], mask[keep], positions[keep], tokens[keep]
                cache.batch_select_indices(keep)
            ids = torch.cat([ids, tokens[:, None]], dim=1)
            mask = torch.cat([mask, mask.new_ones((len(mask), 1))], dim=1)
            positions = torch.cat([positions, positions[:, -1:] + 1], dim=1)
            logits = fast(tokens[:, None], positions[:, -1:], mask, cache)
            expected = full_forward_logits(model, ids, mask)
            torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("shared", [4, 2, 1], ids=["multi-head", "grouped", "multi-query"])
def test_one_query_attention_equals_the_attention_kernel(shared: int) -> None:
    """`_attend_one` against `scaled_dot_product_attention`, over cache-like strided views."""
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(3, 4, 1, 8, generator=generator)  # (b, h, 1, d)
    keys, values = torch.randn(2, 3, shared, 10, 8, generator=generator)[:, :, :, :7]  # S = 7
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[0, :3] = 0  # left padding
    mask[2, :6] = 0
    expected = torch.nn.functional.scaled_dot_product_attention(
        query, keys, values, attn_mask=mask.bool()[:, None, None], scale=0.3,
        enable_gqa=shared < 4,
    )  # fmt: skip
    ours = _attend_one(query, keys, values, _attention_bias(mask, 1, torch.float32), 0.3)
    torch.testing.assert_close(ours, expected.transpose(1, 2).flatten(2), rtol=0, atol=1e-6)


def test_gpt2_and_llama_take_the_fast_path(policy: Any) -> None:
    decoder = decoder_for(policy, capacity=16)
    assert isinstance(decoder, GPT2Decoder if policy.config.model_type == "gpt2" else LlamaDecoder)


def test_fast_logits_equal_the_model_forward(policy: Any, tokenizer: Any, prompts: Any) -> None:
    decode_and_compare(policy, prompts, tokenizer.pad_token_id)


def small(model_class: Any, tokenizer: Any, **config: Any) -> Any:
    """A 2-layer, 4-head model of `model_class` (hidden 32), seeded, in eval mode."""
    fields = {"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 64,
              "pad_token_id": tokenizer.pad_token_id}  # fmt: skip
    torch.manual_seed(0)
    model = model_class(model_class.config_class(**{**fields, **config}))
    model.train(False)
    return model


def test_grouped_query_attention(tokenizer: Any, prompts: Any) -> None:
    model = small(LlamaForCausalLM, tokenizer, num_key_value_heads=2, attention_bias=True)
    decode_and_compare(model, prompts, tokenizer.pad_token_id)


class SubclassedGPT2(GPT2LMHeadModel):  # type: ignore[no-untyped-call]  # untyped in transformers
    """A subclass may change the forward pass."""


def test_what_falls_back_to_the_model_forward(tokenizer: Any) -> None:
    """Only the exact classes of `DECODERS`, with configs they support, take the fast path."""
    dynamic_rope = {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}
    others = [
        SubclassedGPT2(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=4)),
        small(LlamaForCausalLM, tokenizer, rope_parameters=dynamic_rope),
        small(Qwen2ForCausalLM, tokenizer),
    ]
    for model in others:
        assert fast_decoder(model, capacity=16) is None
        assert isinstance(decoder_for(model, capacity=16), TransformersDecoder)


def test_a_fallback_model_generates_as_transformers_does(tokenizer: Any, prompts: Any) -> None:
    model = small(Qwen2ForCausalLM, tokenizer, num_key_value_heads=2)
    sampling = SamplingConfig(temperature=0, max_new_tokens=6)
    rollout = generate(model, prompts, sampling, pad_token_id=tokenizer.pad_token_id,
                       eos_token_id=None)  # fmt: skip
    expected = model.generate(input_ids=rollout.prompt_ids, attention_mask=rollout.prompt_mask,
                              do_sample=False, max_new_tokens=6,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=None)  # fmt: skip
    assert torch.equal(rollout.response_ids, expected[:, rollout.prompt_length :])


def run_both(model: Any, tokenizer: Any, prompts: list[list[int]], sampling: SamplingConfig,
             monkeypatch: pytest.MonkeyPatch, eos: Any = None) -> tuple[Rollout, Rollout]:  # fmt: skip
    """The same call on the fast path and on the model's own forward (same seed)."""

    def call() -> Rollout:
        return generate(model, prompts, sampling, pad_token_id=tokenizer.pad_token_id,
                        eos_token_id=eos, tokenizer=tokenizer,
                        generator=torch.Generator().manual_seed(5))  # fmt: skip

    fast = call()
    with monkeypatch.context() as patch:
        patch.setattr(generate_module, "decoder_for",
                      lambda model, capacity: TransformersDecoder(model))  # fmt: skip
        slow = call()
    return fast, slow


def assert_same_rollout(fast: Rollout, slow: Rollout) -> None:
    assert torch.equal(fast.response_ids, slow.response_ids)
    assert torch.equal(fast.response_mask, slow.response_mask)
    assert torch.equal(fast.finished, slow.finished)
    torch.testing.assert_close(fast.logprobs, slow.logprobs, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "sampling",
    [
        SamplingConfig(temperature=0, max_new_tokens=12),
        SamplingConfig(max_new_tokens=12),
        SamplingConfig(max_new_tokens=12, temperature=0.7, top_k=20, top_p=0.9),
    ],
    ids=["greedy", "sample", "top-k-top-p"],
)
def test_generate_gives_the_same_rollout_on_both_paths(
    policy: Any, tokenizer: Any, prompts: Any, sampling: SamplingConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Groups of 3 samples per prompt (shared prefill), rows ending at EOS and leaving the batch."""
    group = [prompt for prompt in prompts for _ in range(3)]
    free = generate(policy, group, sampling, pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=None, generator=torch.Generator().manual_seed(5))  # fmt: skip
    eos = int(free.response_ids[0, 2])  # a token some row samples early: rows end at it
    fast, slow = run_both(policy, tokenizer, group, sampling, monkeypatch, eos=eos)
    assert_same_rollout(fast, slow)
    assert fast.finished.any()


def test_stop_strings_on_both_paths(
    policy: Any, tokenizer: Any, prompts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    greedy = SamplingConfig(temperature=0, max_new_tokens=10)
    free = generate(policy, prompts, greedy, pad_token_id=tokenizer.pad_token_id, eos_token_id=None)
    stop = tokenizer.decode(free.response_ids[0, :4].tolist())[-2:]
    sampling = SamplingConfig(temperature=0, max_new_tokens=10, stop=(stop,))
    fast, slow = run_both(policy, tokenizer, prompts, sampling, monkeypatch)
    assert_same_rollout(fast, slow)
    assert fast.finished[0]


def test_lora_adapters_are_used(
    policy: Any, tokenizer: Any, prompts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A peft-wrapped policy takes the fast path through its LoRA layers, switched on and off."""
    adapted = add_adapters(copy.deepcopy(policy), LoraConfig(rank=4))
    with torch.no_grad():
        for parameter in adapted.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05)  # as if trained: the adapters now change the outputs
    assert isinstance(fast_decoder(adapted, capacity=16), GPT2Decoder | LlamaDecoder)
    decode_and_compare(adapted, prompts, tokenizer.pad_token_id)
    sampling = SamplingConfig(max_new_tokens=10)
    fast, slow = run_both(adapted, tokenizer, prompts, sampling, monkeypatch)
    assert_same_rollout(fast, slow)
    base = generate(policy, prompts, sampling, pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=None, generator=torch.Generator().manual_seed(5))  # fmt: skip
    assert not torch.allclose(fast.logprobs, base.logprobs)
    with adapters_off(adapted):
        off = generate(adapted, prompts, sampling, pad_token_id=tokenizer.pad_token_id,
                       eos_token_id=None, generator=torch.Generator().manual_seed(5))  # fmt: skip
    assert torch.equal(off.response_ids, base.response_ids)
    torch.testing.assert_close(off.logprobs, base.logprobs, rtol=0, atol=1e-5)
