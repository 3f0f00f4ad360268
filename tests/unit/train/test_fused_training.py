"""Training on fused GELUs: the losses and gradients of the unfused model; saved files unchanged.

`fit` fuses the model it trains (and DPO its reference) in place; every step must compute what the
Python-written GELU computes, to float rounding, and what `fit` exports must load in plain
`transformers` as the GPT-2 it always was.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from transformers import AutoModel
from transformers.activations import NewGELUActivation

from rlhf.data.comparisons import ComparedPair, Comparison
from rlhf.data.tokenize import encode_completion
from rlhf.models import TinyModelConfig, tiny_causal_lm
from rlhf.models.fused import FusedGELUTanh, fuse_activations
from rlhf.models.reward import RewardModel
from rlhf.ops import LossHyper
from rlhf.train import LoopConfig, OptimizerConfig, fit
from rlhf.train.collate import pad_batch
from rlhf.train.dpo import PairExample, PreferenceObjective, collate_pairs
from rlhf.train.reward_collate import TokenizedComparison, collate_shared_prefix, collate_tokens
from rlhf.train.reward_objective import RewardLossConfig, RewardObjective
from rlhf.train.sft import CompletionLikelihood

TEXTS = [
    ("What is 3 plus 4?", [" 3 plus 4 is 7.", " 8.", " It is 7, since 3 plus 4 is 7."]),
    ("What is 1 plus 1?", [" 2.", " 1 plus 1 is 3."]),
    ("What is 10 plus 11? Think about it.", [" 21.", " 10 plus 11 is 22, I think."]),
]
TOL = 1e-6
"""float32 rounding apart: the fused kernel differs from the five ops by a few ulps."""


def _gpt2(tokenizer: Any) -> Any:
    config = TinyModelConfig(arch="gpt2", vocab_size=len(tokenizer), hidden_size=32, seed=0)
    return tiny_causal_lm(config, tokenizer=tokenizer)


def _loss_and_grads(
    model: nn.Module, loss: Callable[[nn.Module], torch.Tensor]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    value = loss(model)
    torch.autograd.backward(value)
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return value.detach(), grads


def _assert_fusing_keeps_the_step(
    model: nn.Module, loss: Callable[[nn.Module], torch.Tensor]
) -> None:
    fused = copy.deepcopy(model)
    assert fuse_activations(fused) == 2  # one per block
    assert any(isinstance(m, NewGELUActivation) for m in model.modules())
    expected, expected_grads = _loss_and_grads(model, loss)
    value, grads = _loss_and_grads(fused, loss)
    torch.testing.assert_close(value, expected, rtol=TOL, atol=TOL)
    assert grads.keys() == expected_grads.keys()
    assert len(grads) > 0
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], rtol=TOL, atol=TOL, msg=name)


def _save(model: nn.Module, directory: Path) -> None:
    assert isinstance(model, RewardModel)
    model.save_pretrained(directory)


def _comparisons(model: RewardModel) -> list[TokenizedComparison]:
    out = []
    for prompt, responses in TEXTS:
        head, tails = model.encode_shared(prompt, responses)
        rows = tuple(tuple(head + tail) for tail in tails)
        pairs = tuple(ComparedPair(i, j) for i, j in ((0, 1), (2, 0)) if i < len(responses))
        comparison = Comparison(prompt, tuple(responses), pairs)
        out.append(TokenizedComparison(rows, comparison, prompt_length=len(head)))
    return out


@pytest.mark.parametrize("collate", [collate_shared_prefix, collate_tokens])
def test_a_reward_step_is_the_same_fused(tokenizer: Any, collate: Any) -> None:
    model = RewardModel(_gpt2(tokenizer).base_model, tokenizer, max_length=64).train()
    batch = collate(_comparisons(model), model.pad_id, RewardLossConfig(), max_tokens=10_000)
    objective = RewardObjective(RewardLossConfig(), use_ties=False)
    _assert_fusing_keeps_the_step(model, lambda m: objective.loss(m, batch)[0])


def test_an_sft_step_is_the_same_fused(tokenizer: Any) -> None:
    examples = [encode_completion(tokenizer, p, rs[0], max_length=64) for p, rs in TEXTS]
    batch = pad_batch(examples, tokenizer.pad_token_id)
    objective = CompletionLikelihood()
    _assert_fusing_keeps_the_step(_gpt2(tokenizer).train(), lambda m: objective.loss(m, batch)[0])


@pytest.mark.parametrize("shared_prompt", [True, False])
def test_a_dpo_step_is_the_same_fused(tokenizer: Any, shared_prompt: bool) -> None:
    examples = [
        PairExample(
            encode_completion(tokenizer, p, rs[0], max_length=64),
            encode_completion(tokenizer, p, rs[1], max_length=64),
            ref_chosen=-40.0,
            ref_rejected=-30.0,
        )
        for p, rs in TEXTS
    ]
    batch = collate_pairs(tokenizer.pad_token_id, shared_prompt=shared_prompt)(examples)
    objective = PreferenceObjective("sigmoid", LossHyper(beta=0.1))
    _assert_fusing_keeps_the_step(_gpt2(tokenizer).train(), lambda m: objective.loss(m, batch)[0])


def test_fit_fuses_and_exports_the_same_gpt2(tokenizer: Any, tmp_path: Path) -> None:
    model = RewardModel(_gpt2(tokenizer).base_model, tokenizer, max_length=64)
    examples = _comparisons(model)
    loop = LoopConfig(max_steps=2, batch_size=3, micro_batch_size=3, eval_every=0, save_every=0,
                      keep_best=False, device="cpu", resume=False)  # fmt: skip
    fit(
        model,
        RewardObjective(RewardLossConfig(), use_ties=False),
        examples,
        lambda batch: collate_shared_prefix(batch, model.pad_id, RewardLossConfig()),
        loop=loop,
        optim=OptimizerConfig(lr=1e-3),
        output=tmp_path / "run",
        export=_save,
    )
    assert sum(isinstance(m, FusedGELUTanh) for m in model.modules()) == 2
    assert not any(isinstance(m, NewGELUActivation) for m in model.modules())

    saved = tmp_path / "run"
    assert json.loads((saved / "config.json").read_text())["activation_function"] == "gelu_new"
    plain = AutoModel.from_pretrained(saved, local_files_only=True)  # transformers, no rlhf
    assert sum(isinstance(m, NewGELUActivation) for m in plain.modules()) == 2
    trained = model.backbone.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in plain.state_dict().items())
    ids = torch.tensor([list(examples[0].rows[0])])
    with torch.no_grad():
        torch.testing.assert_close(
            plain(input_ids=ids).last_hidden_state,
            model.eval().backbone(input_ids=ids).last_hidden_state,
            rtol=TOL,
            atol=TOL,
        )
