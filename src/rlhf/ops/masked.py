"""Sums and means over the real entries of a padded tensor.

`mask` is 1 on real entries (a completion token, a valid time step) and 0 on padding; fractional
values act as weights. Padding must hold finite values: it is multiplied by 0, not selected away.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["masked_mean", "masked_sum"]


def masked_sum(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """sum_i mask_i * values_i over `dim` (every entry when `dim` is None).

    Shapes: `values` and `mask` broadcast together, e.g. both (B, T); the result drops `dim`
    ((B,) for dim=-1, a scalar for dim=None). The result has the dtype of `values`.
    """
    weighted = values * mask.to(values.dtype)
    return weighted.sum() if dim is None else weighted.sum(dim=dim)


def masked_mean(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """sum_i mask_i * values_i / sum_i mask_i over `dim` (every entry when `dim` is None).

    Shapes as in `masked_sum`. A slice with no real entry (sum of mask = 0) has mean 0, not NaN,
    so an empty row contributes nothing instead of poisoning a batch average.
    """
    mask = mask.to(values.dtype)
    count = mask.sum() if dim is None else mask.sum(dim=dim)
    tiny = torch.finfo(values.dtype).tiny
    return masked_sum(values, mask, dim) / count.clamp(min=tiny)
