"""Fused activations: the same function as a model's Python-written GELU, in one kernel.

GPT-2-style configs name `activation_function="gelu_new"`, which `transformers` builds as
`NewGELUActivation`, the tanh approximation of GELU (Hendrycks & Gimpel 2016) written as five
tensor operations,

    gelu(x) = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))),

each a pass over the (B, L, 4H) activations, and as many saved tensors for the backward pass.
`torch.nn.functional.gelu(x, approximate="tanh")` computes the same formula in one kernel (and
one in the backward): `transformers` itself calls it "equivalent ... but much faster" (its
`GELUTanh`). The two differ by float rounding only (at most a few float32 ulps: 2.4e-7 on
unit-normal inputs), never by the function. On the CPU the Python form was about a tenth of an
online RLHF step (`benchmarks/online_trl.py`).

`fuse_activations(model)` swaps the modules in place (the weights, the config and what
`save_pretrained` writes are untouched): a run does it once to the models it owns, where it sets
them up (`rlhf.train.fit` for reward models, SFT and DPO, DPO's reference, and the online
trainers' policy, reference and critic in `rlhf.train.online_setup`). `fused_activations(model)`
does it for a `with` block and puts the originals back, for a pass over a model the caller owns
(`rlhf.rollout.generate`, e.g. under `rlhf sample`); on a model already fused it changes nothing.
Other activations are left alone: SiLU, and the exact (erf) GELU of BERT or MiniLM, which the
tanh approximation must not replace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["FusedGELUTanh", "fuse_activations", "fused_activations"]

_PYTHON_GELU_TANH = {"NewGELUActivation", "FastGELUActivation"}
"""`transformers` activations that compute the tanh approximation of GELU op by op."""


class FusedGELUTanh(nn.Module):
    """0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) in one kernel: (...) -> (...)."""

    def forward(self, input: Tensor) -> Tensor:
        return torch.nn.functional.gelu(input, approximate="tanh")


def _replaceable(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, attribute, activation) of every Python-written tanh GELU in `model`."""
    found = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child).__name__ in _PYTHON_GELU_TANH:
                found.append((parent, name, child))
    return found


def fuse_activations(model: nn.Module) -> int:
    """Replace `model`'s Python-written tanh GELUs by `FusedGELUTanh`, in place; returns how many."""
    found = _replaceable(model)
    for parent, name, _ in found:
        setattr(parent, name, FusedGELUTanh())
    return len(found)


@contextmanager
def fused_activations(model: nn.Module) -> Iterator[nn.Module]:
    """`model` with fused activations inside the block, its own modules back afterwards."""
    found = _replaceable(model)
    for parent, name, _ in found:
        setattr(parent, name, FusedGELUTanh())
    try:
        yield model
    finally:
        for parent, name, original in found:
            setattr(parent, name, original)
