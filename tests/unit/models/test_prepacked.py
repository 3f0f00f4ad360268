"""Prepacked linear layers give the layers' own products (to float rounding) inside the block, and
step aside wherever they could be wrong: gradients, other dtypes, weights changed in place,
modules with their own instance forward. On exit the class's forward is back."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from rlhf.models import TinyModelConfig, tiny_causal_lm
from rlhf.models.prepacked import (
    MIN_PACKED_ELEMENTS,
    PackedLinearForward,
    available,
    prepacked_linears,
)
from rlhf.rollout import SamplingConfig, generate

pytestmark = pytest.mark.skipif(not available(), reason="torch built without oneDNN")


def _layers() -> list[nn.Module]:
    torch.manual_seed(0)
    conv = Conv1D(24, 16)  # type: ignore[no-untyped-call]  # (in 16, out 24), stored (in, out)
    nn.init.normal_(conv.bias)
    return [nn.Linear(16, 24), nn.Linear(16, 24, bias=False), conv]


def _packed_products(run: Any) -> tuple[Any, int]:
    """`run()`'s result and how many products it made with prepacked weights."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        result = run()
    names = [event.name for event in profile.events()]
    return result, names.count("mkldnn::_linear_pointwise")


def test_packed_layers_give_the_layers_own_products() -> None:
    inputs = torch.randn(3, 5, 16)  # any leading shape: 15 rows
    for layer in _layers():
        expected = layer(inputs)
        with torch.no_grad(), prepacked_linears(layer, rows=15, min_elements=0):
            assert isinstance(vars(layer)["forward"], PackedLinearForward)
            packed, products = _packed_products(lambda: layer(inputs))  # noqa: B023
            one_row, other_products = _packed_products(lambda: layer(inputs[:1, :1]))  # noqa: B023
        assert (products, other_products) == (1, 0)  # another row count: the layer's own forward
        torch.testing.assert_close(packed, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(one_row, expected[:1, :1], rtol=1e-5, atol=1e-5)
        assert "forward" not in vars(layer)  # the class's forward is back


def test_a_whole_model_gives_the_same_logits() -> None:
    for arch in ("gpt2", "llama"):
        config = TinyModelConfig(arch=arch, vocab_size=64, hidden_size=32, num_layers=2,
                                 num_heads=2, max_positions=32, seed=0)  # fmt: skip
        model = tiny_causal_lm(config)
        ids = torch.randint(0, 64, (3, 10), generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            expected = model(input_ids=ids).logits
            with prepacked_linears(model, rows=ids.numel(), min_elements=0):
                swapped = sum("forward" in vars(m) for m in model.modules())
                logits, products = _packed_products(lambda: model(input_ids=ids).logits)  # noqa: B023
        layers = 2 * (4 if arch == "gpt2" else 7) + 1  # every projection, and lm_head
        assert swapped == products == layers
        torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


def test_a_call_that_needs_a_gradient_runs_the_layers_own_forward() -> None:
    layer = nn.Linear(16, 24)
    inputs = torch.randn(4, 16)
    with prepacked_linears(layer, rows=4, min_elements=0):
        layer(inputs).sum().backward()  # grad mode on, the weight requires grad
    assert layer.weight.grad is not None
    torch.testing.assert_close(layer.weight.grad, inputs.sum(0).expand(24, 16))


def test_a_weight_changed_in_place_is_never_multiplied_stale() -> None:
    layer = nn.Linear(16, 24)
    inputs = torch.randn(4, 16)
    with torch.no_grad(), prepacked_linears(layer, rows=4, min_elements=0):
        layer.weight.mul_(2)
        changed = layer(inputs)
    torch.testing.assert_close(changed, inputs @ layer.weight.T + layer.bias)


def test_other_dtypes_and_instance_forwards_are_left_alone() -> None:
    half = nn.Linear(16, 24).to(torch.bfloat16)
    hooked = nn.Linear(16, 24)
    own: Any = hooked.forward
    vars(hooked)["forward"] = own  # as accelerate's hooks do
    with torch.no_grad(), prepacked_linears(nn.Sequential(half, hooked), rows=4, min_elements=0):
        assert "forward" not in vars(half)
        assert vars(hooked)["forward"] is own
        float_input = torch.randn(4, 16, dtype=torch.bfloat16)
        torch.testing.assert_close(half(float_input), nn.functional.linear(float_input, half.weight,
                                                                           half.bias))  # fmt: skip
    assert vars(hooked)["forward"] is own


def test_the_layers_forward_comes_back_after_an_error() -> None:
    layer = nn.Linear(16, 24)
    with (
        pytest.raises(RuntimeError, match="inside"),
        prepacked_linears(layer, rows=4, min_elements=0),
    ):
        raise RuntimeError("inside the block")
    assert "forward" not in vars(layer)


def test_generation_multiplies_with_packed_weights_at_full_batch() -> None:
    """By default only weights of `MIN_PACKED_ELEMENTS` or more are packed: at width 256 the QKV
    (256 x 768) and MLP (256 x 1024) products, not the 256 x 256 attention output or a small LM
    head."""
    config = TinyModelConfig(arch="gpt2", vocab_size=64, hidden_size=256, num_layers=2,
                             num_heads=4, max_positions=32, seed=0)  # fmt: skip
    model = tiny_causal_lm(config)
    sizes = sorted(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear | Conv1D))
    assert sum(size >= MIN_PACKED_ELEMENTS for size in sizes) == 2 * 3
    prompts = [[1, 2, 3], [4, 5], [6]]
    sampling = SamplingConfig(max_new_tokens=4, temperature=0)
    rollout, products = _packed_products(
        lambda: generate(model, prompts, sampling, pad_token_id=0, eos_token_id=None)
    )
    assert products == 3 * 2 * 3  # steps 2-4 at the full batch (the prefill has 3 x 3 rows)
    assert all("forward" not in vars(m) for m in model.modules())
    with torch.inference_mode():  # greedy: the model's own argmax at every step
        ids = torch.cat([rollout.prompt_ids, rollout.response_ids], dim=1)
        mask = torch.cat([rollout.prompt_mask, rollout.response_mask], dim=1)
        logits = model(input_ids=ids, attention_mask=mask,
                       position_ids=(mask.cumsum(1) - 1).clamp(min=0)).logits  # fmt: skip
    width = rollout.prompt_ids.shape[1]
    assert torch.equal(logits[:, width - 1 : -1].argmax(-1), rollout.response_ids)
