"""Prepacked linear layers: float32 CPU matrix products with each weight laid out for oneDNN once.

A decoding step multiplies a few rows (one per response still going) by every weight matrix of the
model. `nn.Linear` and GPT-2's `Conv1D` do that with `F.linear`/`torch.addmm`, which on the CPU
call MKL's sgemm, and every call starts from the weight in its plain row-major layout. oneDNN can
reorder a weight once into the blocked layout its kernels read (`torch.ops.mkldnn.
_reorder_linear_weight`, the op behind `torch.compile`'s weight prepacking with `freezing=True`)
and then multiply any number of calls with it (`torch.ops.mkldnn._linear_pointwise`).

`prepacked_linears(model, rows=...)` does that for a `with` block: every `nn.Linear` and `Conv1D`
of `model` (the exact classes) whose weight is float32 on the CPU and large enough to repay
oneDNN's cost per call (`MIN_PACKED_ELEMENTS`) gets its weight packed once, at the start, and
multiplies inputs of `rows` rows with the packed copy inside the block. `rlhf.rollout.generate`
runs under it with `rows` = its batch: every decoding step while no response has ended, and the
prefill's LM head. The same products to float rounding (a different summation order; within
1e-5, tested).

Why one row count: oneDNN compiles a kernel for every input shape it meets and keeps it for the
life of the process (about 0.6 MB each, measured; its caches only bound how many it keeps, at a
thousand), so a product per row count would let a long run of generation calls, whose prefills
and shrinking batches see ever new counts, grow the process by hundreds of MB. One row count per
weight shape and batch size keeps that to a few MB. Other row counts (prefills, steps after rows
have finished) run the layer's own forward.

Measured by `benchmarks/cpu_kernels.py` on `benchmarks/generate_speed.py`'s fixed-length scenario
(GPT-2, 256 wide, 4 layers, 4,096 tokens; 16 rows, 128 new tokens, one thread), in one process: a
whole `generate` call 1.17x faster than with torch's own products (1.12 s -> 0.96 s; per round
1.11-1.44x). Packing costs one reorder per weight per block, which short generations feel: in
one-off runs of the same comparison at 8 new tokens the call ran 0.83-0.96x as fast, at 32
1.07-1.13x. Over many rows (a full-sequence forward of 1,008 positions) the gain is about a tenth
in isolation and did not show in a training step, so training and the no-grad passes over whole
sequences keep torch's own products.

What the block does not change: a call with another row count, a call that needs a gradient (grad
mode on, with a weight or input that requires one) or has another dtype, and a layer whose weight
was modified in place since it was packed run the layer's own forward; modules that already carry
an instance-level `forward` (e.g. `accelerate`'s hooks) are left alone. LoRA adapters keep
working: `peft` wraps the base layer, which stays an `nn.Linear`, and adds its own product. On
exit every layer gets its class's forward back and the packed copies are freed; while the block
lasts they are one extra copy of the packed weights. Without oneDNN in the torch build the block
changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeGuard

import torch
from torch import Tensor, nn
from transformers.pytorch_utils import Conv1D

__all__ = ["MIN_PACKED_ELEMENTS", "PackedLinearForward", "available", "prepacked_linears"]

MIN_PACKED_ELEMENTS = 1 << 17
"""Smallest weight (in x out elements, 512 KiB in float32) worth packing. A oneDNN product has a
fixed cost per call of about 15 us here against MKL's 4 us; measured with one thread on 4-32 rows,
the packed product loses on every weight of 2^16 elements or fewer (0.3-0.9x; 256 x 256 breaks even
at 32 rows only), comes out even to 1.1x at 256 x 768, and wins 1.2-2.4x from 256 x 1024 up."""


def available() -> bool:
    """Whether this torch build has oneDNN and its prepacked linear ops."""
    built = bool(torch.backends.mkldnn.is_available())  # type: ignore[no-untyped-call]
    return built and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")


class PackedLinearForward:
    """The forward of one `nn.Linear` or `Conv1D` with its weight prepacked: (..., in) -> (..., out).

    Falls back to the layer's own forward whenever the packed copy cannot stand in for it (module
    docstring).
    """

    def __init__(self, module: nn.Linear | Conv1D, *, rows: int) -> None:
        self.module, self.rows = module, rows
        weight = module.weight.detach()
        # (out, in), the layout `_linear_pointwise` takes; Conv1D stores (in, out)
        matrix = weight.t() if isinstance(module, Conv1D) else weight
        self.packed = torch.ops.mkldnn._reorder_linear_weight(matrix.contiguous(), rows)
        self.version = module.weight._version

    def __call__(self, input: Tensor) -> Tensor:
        module = self.module
        if (
            input.numel() != self.rows * input.shape[-1]
            or input.dtype != torch.float32
            or module.weight._version != self.version
            or (torch.is_grad_enabled() and (input.requires_grad or module.weight.requires_grad))
        ):
            return type(module).forward(module, input)  # type: ignore[arg-type]
        bias = None if module.bias is None else module.bias.detach()
        output: Tensor = torch.ops.mkldnn._linear_pointwise(
            input, self.packed, bias, "none", [], ""
        )
        return output


def _packable(module: nn.Module, min_elements: int) -> TypeGuard[nn.Linear | Conv1D]:
    """An `nn.Linear` or `Conv1D` (exactly) with its class's forward and a float32 CPU weight of at
    least `min_elements`."""
    if type(module) not in (nn.Linear, Conv1D) or "forward" in vars(module):
        return False
    weight = module.weight
    return (
        isinstance(weight, Tensor)
        and weight.dtype == torch.float32
        and weight.is_cpu
        and weight.numel() >= min_elements
    )


@contextmanager
def prepacked_linears(
    model: nn.Module, *, rows: int, min_elements: int = MIN_PACKED_ELEMENTS
) -> Iterator[nn.Module]:
    """`model` with prepacked float32 CPU linear layers inside the block (module docstring).

    `rows`: the row count (product of the input's leading dimensions) that multiplies with the
    packed weights; calls with other counts run the layer's own forward (module docstring).
    `min_elements`: the smallest weight packed (`MIN_PACKED_ELEMENTS`).
    """
    packable = [m for m in model.modules() if _packable(m, min_elements)]
    swapped = packable if available() else []
    try:
        for module in swapped:
            vars(module)["forward"] = PackedLinearForward(module, rows=rows)  # shadows the class's
        yield model
    finally:
        for module in swapped:
            vars(module).pop("forward", None)
