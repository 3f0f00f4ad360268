"""`generate` against `transformers`' own generate, a full forward pass, and its stopping rules."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import torch

from rlhf.rollout import Rollout, SamplingConfig, generate, response_logprobs

GREEDY = SamplingConfig(temperature=0, max_new_tokens=10)


def run(policy: Any, tokenizer: Any, prompts: list[list[int]], sampling: SamplingConfig,
        seed: int | None = 0, eos: Any = None) -> Rollout:  # fmt: skip
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return generate(policy, prompts, sampling, pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=eos, tokenizer=tokenizer, generator=generator)  # fmt: skip


def test_greedy_equals_transformers_generate(policy: Any, tokenizer: Any, prompts: Any) -> None:
    rollout = run(policy, tokenizer, prompts, GREEDY)
    assert rollout.prompt_mask.sum(1).tolist() == [len(p) for p in prompts]  # left-padded
    assert rollout.prompt_mask[:, -1].all()
    expected = policy.generate(
        input_ids=rollout.prompt_ids,
        attention_mask=rollout.prompt_mask,
        do_sample=False,
        max_new_tokens=GREEDY.max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=None,
    )
    assert torch.equal(rollout.response_ids, expected[:, rollout.prompt_length :])
    assert rollout.response_mask.all()
    assert not rollout.finished.any()


@pytest.mark.parametrize(
    "sampling",
    [
        GREEDY,
        SamplingConfig(max_new_tokens=10),
        SamplingConfig(max_new_tokens=10, temperature=0.7, top_k=20, top_p=0.9),
        SamplingConfig(max_new_tokens=10, temperature=1.6),
    ],
)
def test_logprobs_equal_a_full_forward_pass(
    policy: Any, tokenizer: Any, prompts: Any, sampling: SamplingConfig
) -> None:
    rollout = run(policy, tokenizer, prompts, sampling, eos=tokenizer.eos_token_id)
    with torch.no_grad():
        recomputed = response_logprobs(policy, rollout, temperature=sampling.logprob_temperature)
    mask = rollout.response_mask.bool()
    torch.testing.assert_close(rollout.logprobs[mask], recomputed[mask], rtol=0, atol=1e-5)
    assert (rollout.logprobs[~mask] == 0).all()


def test_seeded_sampling_reproduces_and_seeds_differ(
    policy: Any, tokenizer: Any, prompts: Any
) -> None:
    sampling = SamplingConfig(max_new_tokens=12)
    first = run(policy, tokenizer, prompts, sampling, seed=1)
    again = run(policy, tokenizer, prompts, sampling, seed=1)
    other = run(policy, tokenizer, prompts, sampling, seed=2)
    assert torch.equal(first.response_ids, again.response_ids)
    assert torch.equal(first.logprobs, again.logprobs)
    assert not torch.equal(first.response_ids, other.response_ids)


def test_top_k_one_equals_greedy(policy: Any, tokenizer: Any, prompts: Any) -> None:
    greedy = run(policy, tokenizer, prompts, GREEDY)
    top1 = run(policy, tokenizer, prompts, SamplingConfig(max_new_tokens=10, top_k=1))
    assert torch.equal(top1.response_ids, greedy.response_ids)
    torch.testing.assert_close(top1.logprobs, greedy.logprobs)


def test_first_token_frequencies_follow_the_policy(policy: Any, tokenizer: Any) -> None:
    prompt = list(tokenizer("What is 2 plus")["input_ids"])
    draws, temperature, top_k = 3000, 0.8, 4
    sampling = SamplingConfig(max_new_tokens=1, temperature=temperature, top_k=top_k)
    rollout = run(policy, tokenizer, [prompt] * draws, sampling, seed=7)
    with torch.no_grad():
        logits = policy(input_ids=torch.tensor([prompt])).logits[0, -1] / temperature
    top = logits.topk(top_k)
    expected = torch.softmax(top.values, -1).double() * draws
    observed = torch.stack([(rollout.response_ids[:, 0] == i).sum() for i in top.indices])
    assert observed.sum() == draws  # nothing outside the top k
    chi_square = ((observed - expected) ** 2 / expected).sum()
    assert chi_square < 16.3  # 99.9% quantile with 3 degrees of freedom


def test_eos_ends_rows_and_masks_the_rest(policy: Any, tokenizer: Any, prompts: Any) -> None:
    free = run(policy, tokenizer, prompts, GREEDY)
    eos = int(free.response_ids[0, 3])  # a token row 0 produces by step 3
    ended = run(policy, tokenizer, prompts, GREEDY, eos=[eos])
    for row in range(len(prompts)):
        tokens = free.response_ids[row].tolist()
        length = tokens.index(eos) + 1 if eos in tokens else len(tokens)
        assert ended.response_lengths[row] == length
        assert bool(ended.finished[row]) == (eos in tokens)
        assert ended.response_ids[row, :length].tolist() == tokens[:length]
        assert (ended.response_ids[row, length:] == tokenizer.pad_token_id).all()
        assert ended.response_mask[row].tolist() == [1] * length + [0] * (
            ended.response_ids.shape[1] - length
        )
    assert ended.finished[0]
    assert ended.response_ids.shape[1] == int(ended.response_lengths.max())


def test_generation_stops_when_every_row_has_ended(policy: Any, tokenizer: Any) -> None:
    prompt = list(tokenizer("What is 2 plus")["input_ids"])
    first = run(policy, tokenizer, [prompt], GREEDY).response_ids[0, 0]
    rollout = run(policy, tokenizer, [prompt, prompt], GREEDY, eos=int(first))
    assert rollout.response_ids.shape == (2, 1)
    assert rollout.finished.all()


def test_stop_strings_end_rows(policy: Any, tokenizer: Any, prompts: Any) -> None:
    free = run(policy, tokenizer, prompts, GREEDY)
    stop = tokenizer.decode(free.response_ids[0, :4].tolist())[-2:]  # row 0 has it by step 3
    sampling = SamplingConfig(temperature=0, max_new_tokens=10, stop=(stop,))
    stopped = run(policy, tokenizer, prompts, sampling)
    for row in range(len(prompts)):
        tokens = free.response_ids[row].tolist()
        texts = [tokenizer.decode(tokens[: k + 1]) for k in range(len(tokens))]
        hits = [k for k, text in enumerate(texts) if stop in text]
        length = hits[0] + 1 if hits else len(tokens)
        assert stopped.response_lengths[row] == length, (row, stop, texts)
        assert bool(stopped.finished[row]) == bool(hits)
        assert stopped.response_ids[row, :length].tolist() == tokens[:length]
    assert stopped.finished[0]
    assert stop in stopped.texts(tokenizer)[0]


def test_stop_strings_need_the_tokenizer(policy: Any, tokenizer: Any, prompts: Any) -> None:
    with pytest.raises(ValueError, match="tokenizer=tokenizer"):
        generate(policy, prompts, SamplingConfig(stop=("x",)), pad_token_id=0, eos_token_id=None)


def test_max_new_tokens_is_respected(policy: Any, tokenizer: Any, prompts: Any) -> None:
    rollout = run(policy, tokenizer, prompts, SamplingConfig(max_new_tokens=3), eos=None)
    assert rollout.response_ids.shape == (len(prompts), 3)
    assert rollout.response_lengths.tolist() == [3] * len(prompts)
    assert not rollout.finished.any()


def test_train_mode_is_restored_and_outputs_can_enter_autograd(
    policy: Any, tokenizer: Any, prompts: Any
) -> None:
    policy.train()
    try:
        rollout = run(policy, tokenizer, prompts, SamplingConfig(max_new_tokens=4))
        assert policy.training
        logprobs = response_logprobs(policy, rollout)
        (logprobs - rollout.logprobs).sum().backward()  # no inference tensors in the graph
    finally:
        policy.eval()
        policy.zero_grad(set_to_none=True)
    assert not policy.training


def test_empty_prompts_are_refused(policy: Any, tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="at least one token"):
        run(policy, tokenizer, [[1, 2], []], GREEDY)


def test_repeated_prompts_are_prefilled_once_with_the_same_samples(
    policy: Any, tokenizer: Any, prompts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group sampling: each distinct prompt fills the cache once, and the rollout is the one that
    prefilling every row gives (same seed: same tokens, log-probs equal to float rounding)."""
    module = importlib.import_module("rlhf.rollout.generate")  # the package's `generate` hides it
    group = [prompt for prompt in prompts for _ in range(3)]  # 4 prompts x 3, left-padded
    sampling = SamplingConfig(max_new_tokens=8, temperature=1.2)
    prefills: list[int] = []
    original = module.prompt_groups

    def counted(ids: torch.Tensor, mask: torch.Tensor) -> Any:
        first, inverse = original(ids, mask)
        prefills.append(len(first))
        return first, inverse

    monkeypatch.setattr(module, "prompt_groups", counted)
    shared = run(policy, tokenizer, group, sampling, seed=3, eos=tokenizer.eos_token_id)
    assert prefills == [len(prompts)]

    def every_row(ids: torch.Tensor, mask: torch.Tensor) -> Any:
        rows = torch.arange(len(ids))
        return rows, rows

    monkeypatch.setattr(module, "prompt_groups", every_row)
    plain = run(policy, tokenizer, group, sampling, seed=3, eos=tokenizer.eos_token_id)
    assert torch.equal(shared.response_ids, plain.response_ids)
    assert torch.equal(shared.response_mask, plain.response_mask)
    torch.testing.assert_close(shared.logprobs, plain.logprobs, rtol=0, atol=1e-5)
