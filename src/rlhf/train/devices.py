"""Putting a run on its device: seeding, autocast precision, moving batches."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

import numpy as np
import torch

from rlhf.train.config import Precision

T = TypeVar("T")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def uses_bf16(device: torch.device, precision: Precision) -> bool:
    """Whether to autocast to bfloat16: asked for, or `auto` on a GPU that supports it."""
    if precision == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return precision == "bf16"


def autocast(device: torch.device, precision: Precision) -> AbstractContextManager[Any]:
    """The forward-pass context for `precision` (weights stay fp32; matmuls run in bf16)."""
    if uses_bf16(device, precision):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def move_to(batch: T, device: torch.device) -> T:
    """`batch` with every tensor in it on `device`: tensors, mappings, lists and dataclasses."""
    moved: Any
    if isinstance(batch, torch.Tensor):
        moved = batch.to(device, non_blocking=True)
    elif isinstance(batch, Mapping):
        moved = {key: move_to(value, device) for key, value in batch.items()}
    elif isinstance(batch, list | tuple):
        moved = type(batch)(move_to(value, device) for value in batch)
    elif dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        fields = {
            f.name: move_to(getattr(batch, f.name), device) for f in dataclasses.fields(batch)
        }
        moved = dataclasses.replace(batch, **fields)
    else:
        moved = batch
    return moved  # type: ignore[no-any-return]
