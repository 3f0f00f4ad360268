"""Fused activations compute the model's own GELU (to float rounding) and swap back cleanly."""

from __future__ import annotations

import torch
from transformers.activations import FastGELUActivation, NewGELUActivation

from rlhf.models import TinyModelConfig, tiny_causal_lm
from rlhf.models.fused import FusedGELUTanh, fuse_activations, fused_activations


def _gpt2() -> torch.nn.Module:
    config = TinyModelConfig(arch="gpt2", vocab_size=64, hidden_size=32, num_layers=2,
                             num_heads=2, max_positions=32, seed=0)  # fmt: skip
    return tiny_causal_lm(config).eval()


def test_fused_gelu_matches_the_python_forms_and_their_gradients() -> None:
    x = torch.linspace(-8, 8, 4001, dtype=torch.float64).requires_grad_(True)
    for python in (NewGELUActivation(), FastGELUActivation()):
        fused, expected = FusedGELUTanh()(x), python(x)
        # 1e-9, not exact: FastGELU writes sqrt(2 / pi) with 10 digits
        torch.testing.assert_close(fused, expected, rtol=1e-9, atol=1e-9)
        (grad,) = torch.autograd.grad(fused.sum(), x)
        (expected_grad,) = torch.autograd.grad(expected.sum(), x)
        torch.testing.assert_close(grad, expected_grad, rtol=1e-8, atol=1e-8)


def test_fuse_activations_keeps_the_logits() -> None:
    model = _gpt2()
    ids = torch.randint(0, 64, (3, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(input_ids=ids).logits
        assert fuse_activations(model) == 2  # one per block
        after = model(input_ids=ids).logits
    assert not any(isinstance(m, NewGELUActivation) for m in model.modules())
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    assert fuse_activations(model) == 0  # nothing left to replace


def test_fused_activations_puts_the_originals_back() -> None:
    model = _gpt2()
    originals = [m for m in model.modules() if isinstance(m, NewGELUActivation)]
    with fused_activations(model):
        assert sum(isinstance(m, FusedGELUTanh) for m in model.modules()) == 2
    assert [m for m in model.modules() if isinstance(m, NewGELUActivation)] == originals
