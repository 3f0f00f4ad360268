"""Recomputing a rollout's log-probs in one forward pass: values, gradients, hidden states."""

from __future__ import annotations

from typing import Any

import torch

from rlhf.rollout import SamplingConfig, forward_response, generate, response_logprobs


def sampled(policy: Any, tokenizer: Any, prompts: list[list[int]]) -> Any:
    return generate(policy, prompts, SamplingConfig(max_new_tokens=6, temperature=0.9),
                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                    generator=torch.Generator().manual_seed(0))  # fmt: skip


def naive_logprobs(policy: Any, rollout: Any, temperature: float) -> torch.Tensor:
    """Each row on its own, unpadded, with a plain log_softmax and gather."""
    rows = []
    for row in range(len(rollout)):
        prompt = rollout.prompt_ids[row][rollout.prompt_mask[row].bool()]
        response = rollout.response_ids[row]
        ids = torch.cat([prompt, response])[None]
        logits = policy(input_ids=ids).logits[0, len(prompt) - 1 : -1] / temperature
        rows.append(torch.log_softmax(logits, -1).gather(-1, response[:, None]).squeeze(-1))
    return torch.stack(rows)


def test_logprobs_match_unpadded_rows(policy: Any, tokenizer: Any, prompts: Any) -> None:
    rollout = sampled(policy, tokenizer, prompts)
    with torch.no_grad():
        ours = response_logprobs(policy, rollout, temperature=0.9)
        naive = naive_logprobs(policy, rollout, 0.9)
    mask = rollout.response_mask.bool()
    torch.testing.assert_close(ours[mask], naive[mask], rtol=0, atol=1e-5)
    assert ours.shape == rollout.response_ids.shape


def test_forward_response_shares_one_pass(policy: Any, tokenizer: Any, prompts: Any) -> None:
    rollout = sampled(policy, tokenizer, prompts)
    forward = forward_response(policy, rollout, temperature=0.9)
    steps = rollout.response_ids.shape[1]
    assert forward.logits.shape == (len(rollout), steps, policy.config.vocab_size)
    assert forward.hidden_states.shape[:2] == (len(rollout), steps)
    expected = torch.log_softmax(forward.logits, -1).gather(-1, rollout.response_ids[..., None])
    torch.testing.assert_close(forward.logprobs, expected.squeeze(-1))
    # the hidden state at column P-1+t is the last layer's, the one the LM head reads
    full = policy(input_ids=rollout.sequences, attention_mask=rollout.attention_mask,
                  position_ids=rollout.position_ids, output_hidden_states=True)  # fmt: skip
    start = rollout.prompt_length - 1
    torch.testing.assert_close(
        forward.hidden_states, full.hidden_states[-1][:, start : start + steps]
    )
    forward.logprobs.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    policy.zero_grad(set_to_none=True)


def test_entropy_of_the_scaled_distribution(policy: Any, tokenizer: Any, prompts: Any) -> None:
    rollout = sampled(policy, tokenizer, prompts)
    with torch.no_grad():
        logprobs, entropy = response_logprobs(
            policy, rollout, temperature=0.9, return_logits_entropy=True
        )
        probs = torch.softmax(forward_response(policy, rollout, temperature=0.9).logits, -1)
    torch.testing.assert_close(entropy, -(probs * probs.log()).sum(-1))
    torch.testing.assert_close(logprobs, response_logprobs(policy, rollout, temperature=0.9))


def test_shared_prompt_pass_equals_a_pass_per_row(
    policy: Any, tokenizer: Any, prompts: Any
) -> None:
    """Rows that share a prompt (group sampling) compute it once: the same log-probs, logits,
    hidden states and gradients as computing every row on its own, to float rounding."""
    group = [prompt for prompt in prompts[:3] for _ in range(3)]  # 3 prompts x 3, left-padded
    rollout = sampled(policy, tokenizer, group)
    first, inverse = rollout.prompt_groups()
    assert len(first) == 3
    assert torch.equal(rollout.prompt_ids[first][inverse], rollout.prompt_ids)
    shared = forward_response(policy, rollout, temperature=0.9)  # one pass per distinct prompt
    shared.logprobs.sum().backward()
    shared_grads = [p.grad.clone() for p in policy.parameters() if p.grad is not None]
    policy.zero_grad(set_to_none=True)
    rows = [forward_response(policy, rollout.index([r]), temperature=0.9) for r in range(9)]
    torch.stack([row.logprobs[0] for row in rows]).sum().backward()
    row_grads = [p.grad.clone() for p in policy.parameters() if p.grad is not None]
    policy.zero_grad(set_to_none=True)
    mask = rollout.response_mask.bool()
    by_row = torch.cat([row.logprobs for row in rows])
    torch.testing.assert_close(shared.logprobs[mask], by_row[mask], rtol=0, atol=1e-5)
    torch.testing.assert_close(shared.logits, torch.cat([row.logits for row in rows]))
    torch.testing.assert_close(shared.hidden_states, torch.cat([row.hidden_states for row in rows]))
    assert len(shared_grads) == len(row_grads)
    for ours, expected in zip(shared_grads, row_grads, strict=True):
        torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        naive = naive_logprobs(policy, rollout, 0.9)
        torch.testing.assert_close(
            response_logprobs(policy, rollout, temperature=0.9)[mask], naive[mask], atol=1e-5,
            rtol=0,
        )  # fmt: skip


def test_shared_prompts_of_one_token_and_under_padding(
    policy: Any, tokenizer: Any, prompts: Any
) -> None:
    """A group whose prompt is one token beside longer prompts (its prompt pass sees padding
    only), and a batch of one-token prompts (nothing to share), give the per-row values."""
    shortest = min(prompts, key=len)
    assert len(shortest) == 1
    for group in ([shortest, shortest, prompts[1], prompts[1]], [shortest] * 3):
        rollout = sampled(policy, tokenizer, group)
        mask = rollout.response_mask.bool()
        with torch.no_grad():
            shared = response_logprobs(policy, rollout, temperature=0.9)
            naive = naive_logprobs(policy, rollout, 0.9)
        assert torch.isfinite(shared).all()
        torch.testing.assert_close(shared[mask], naive[mask], rtol=0, atol=1e-5)
