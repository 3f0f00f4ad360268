"""The SFT and DPO objectives equal naive computations; LoRA's reference is the base model."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812

from rlhf.data.tokenize import encode_completion
from rlhf.models.lora import LoraConfig, adapters_off, add_adapters
from rlhf.ops import LossHyper, dpo_loss
from rlhf.train.collate import pad_batch
from rlhf.train.dpo import PairExample, PreferenceObjective, collate_pairs, reference_logps
from rlhf.train.sft import CompletionLikelihood

PAIRS = [("What is 1 plus 2?", " 3.", " 4."), ("What is 5 plus 5?", " 10.", " 11 or so.")]


def naive_completion_nll(model: Any, ids: list[int], mask: list[int]) -> float:
    """-sum log p(token) over completion tokens, by a loop over positions."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    logprobs = F.log_softmax(logits.double(), dim=-1)
    return -sum(float(logprobs[t - 1, ids[t]]) for t in range(1, len(ids)) if mask[t])


def test_sft_loss_is_the_completion_nll(tokenizer: Any, causal_lm: Any) -> None:
    examples = [encode_completion(tokenizer, p, c, max_length=64) for p, c, _ in PAIRS]
    batch = pad_batch(examples, tokenizer.pad_token_id)
    objective = CompletionLikelihood()
    with torch.no_grad():
        loss, _ = objective.loss(causal_lm, batch)
    expected = sum(
        naive_completion_nll(causal_lm, list(e.input_ids), list(e.completion_mask))
        for e in examples
    )
    assert abs(float(loss) - expected) < 1e-4
    assert objective.units(batch) == sum(sum(e.completion_mask) for e in examples)


def _pair_examples(tokenizer: Any) -> list[PairExample]:
    return [
        PairExample(
            encode_completion(tokenizer, p, c, max_length=64),
            encode_completion(tokenizer, p, r, max_length=64),
        )
        for p, c, r in PAIRS
    ]


def test_dpo_objective_is_dpo_on_sequence_logprobs(tokenizer: Any, causal_lm: Any) -> None:
    collate = collate_pairs(tokenizer.pad_token_id)
    examples = reference_logps(
        causal_lm, _pair_examples(tokenizer), collate, batch_size=2, precision="fp32"
    )
    for e in examples:  # the reference log-probs are the naive sequence log-likelihoods
        assert (
            abs(
                -e.ref_chosen
                - naive_completion_nll(
                    causal_lm, list(e.chosen.input_ids), list(e.chosen.completion_mask)
                )
            )
            < 1e-4
        )
    shifted = [
        PairExample(e.chosen, e.rejected, e.ref_chosen - 1.0, e.ref_rejected + 0.5)
        for e in examples
    ]
    objective = PreferenceObjective("sigmoid", LossHyper(beta=0.1))
    with torch.no_grad():
        loss, metrics = objective.loss(causal_lm, collate(shifted))
    policy_c = torch.tensor([e.ref_chosen for e in examples])
    policy_r = torch.tensor([e.ref_rejected for e in examples])
    expected, _ = dpo_loss(policy_c, policy_r, policy_c - 1.0, policy_r + 0.5, beta=0.1)
    assert abs(float(loss) - 2 * float(expected)) < 1e-4  # a sum over the 2 pairs
    assert abs(float(metrics["rewards/margin"]) - 2 * 0.1 * 1.5) < 1e-4


def test_pair_rows_and_separate_rows_give_the_same_dpo_loss(tokenizer: Any, causal_lm: Any) -> None:
    examples = [
        PairExample(e.chosen, e.rejected, -30.0 - i, -31.0 + i)
        for i, e in enumerate(_pair_examples(tokenizer))
    ]
    objective = PreferenceObjective("sigmoid", LossHyper(beta=0.1, alpha=0.5))
    results = []
    for shared_prompt in (True, False):
        batch = collate_pairs(tokenizer.pad_token_id, shared_prompt=shared_prompt)(examples)
        assert batch.tokens.input_ids.shape[0] == (1 if shared_prompt else 2) * len(examples)
        with torch.no_grad():
            results.append(objective.loss(causal_lm, batch))
    (shared_loss, shared_metrics), (loss, metrics) = results
    torch.testing.assert_close(shared_loss, loss, atol=1e-5, rtol=1e-5)
    assert shared_metrics.keys() == metrics.keys()
    for name, value in metrics.items():
        torch.testing.assert_close(shared_metrics[name], value, atol=1e-4, rtol=1e-5)


def test_lora_reference_is_the_base_model(tokenizer: Any, causal_lm: Any) -> None:
    collate = collate_pairs(tokenizer.pad_token_id)
    examples = _pair_examples(tokenizer)
    base = reference_logps(causal_lm, examples, collate, batch_size=2, precision="fp32")
    adapted = add_adapters(causal_lm, LoraConfig(rank=4))
    trainable = [p for p in adapted.parameters() if p.requires_grad]
    with torch.no_grad():
        for p in trainable:
            p.add_(0.05)  # as if trained: the adapted policy now differs from the base
    moved = reference_logps(adapted, examples, collate, batch_size=2, precision="fp32")
    assert abs(moved[0].ref_chosen - base[0].ref_chosen) > 1e-3
    with adapters_off(adapted):
        again = reference_logps(adapted, examples, collate, batch_size=2, precision="fp32")
    assert [e.ref_chosen for e in again] == [e.ref_chosen for e in base]
