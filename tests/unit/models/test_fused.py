"""Fused activations compute the model's own GELU (to float rounding) and swap back cleanly; a
fused model saves the same files, and other activations (SiLU, exact GELU) are never touched."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.activations import FastGELUActivation, GELUActivation, NewGELUActivation

from rlhf.models import TinyEncoderConfig, TinyModelConfig, tiny_causal_lm, tiny_encoder
from rlhf.models.fused import FusedGELUTanh, fuse_activations, fused_activations


def _gpt2() -> Any:
    config = TinyModelConfig(arch="gpt2", vocab_size=64, hidden_size=32, num_layers=2,
                             num_heads=2, max_positions=32, seed=0)  # fmt: skip
    return tiny_causal_lm(config)  # in eval mode, like from_pretrained


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


def test_a_fused_model_saves_the_same_files(tmp_path: Path) -> None:
    model = _gpt2()
    fused = copy.deepcopy(model)
    fuse_activations(fused)
    model.save_pretrained(tmp_path / "plain")
    fused.save_pretrained(tmp_path / "fused")
    names = sorted(p.name for p in (tmp_path / "plain").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "fused").iterdir())
    assert "config.json" in names
    assert "model.safetensors" in names
    for name in names:  # the config still says gelu_new; the weights are byte for byte the same
        assert (tmp_path / "fused" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()


def _activations(model: torch.nn.Module) -> list[type[torch.nn.Module]]:
    return [type(m) for m in model.modules() if "activation" in type(m).__name__.lower()]


def test_other_activations_are_left_alone() -> None:
    """SiLU (Llama) and the exact erf GELU (BERT, MiniLM, GPT-2 with `gelu`) are other functions:
    the tanh approximation must never stand in for them."""
    llama = tiny_causal_lm(TinyModelConfig(arch="llama", vocab_size=64, hidden_size=32))
    bert = tiny_encoder(TinyEncoderConfig(vocab_size=64, hidden_size=32))
    exact_gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=2,
                                            n_positions=32, activation_function="gelu"))  # fmt: skip
    for model in (llama, bert, exact_gpt2):
        before = _activations(model)
        assert before
        assert fuse_activations(model) == 0
        assert _activations(model) == before
        assert not any(isinstance(m, FusedGELUTanh) for m in model.modules())
    assert GELUActivation in _activations(bert)
    assert GELUActivation in _activations(exact_gpt2)
