"""Low-rank adapters (LoRA, Hu et al. 2021) through `peft`, an optional extra imported lazily.

With adapters, only the low-rank matrices train; the base weights stay frozen, so the reference
policy of DPO and PPO is the same model with its adapters switched off (no second copy).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from torch import nn

from rlhf.errors import UserError


class MissingPeftError(UserError):
    """LoRA was asked for without the `peft` package."""


@dataclass(frozen=True, kw_only=True)
class LoraConfig:
    """Low-rank adapters on the linear layers; rank 0 trains every weight instead."""

    rank: int = 0
    """Rank r of the adapters; 0 turns LoRA off (full fine-tuning)."""
    alpha: float = 16.0
    """Scale alpha; the update is (alpha / r) * B A."""
    dropout: float = 0.0
    """Dropout on the adapters' input."""
    target_modules: str = "all-linear"
    """Which layers get adapters: `all-linear`, or comma-separated module names (`q_proj,v_proj`)."""

    def __post_init__(self) -> None:
        if self.rank < 0:
            raise UserError(f"lora.rank must be >= 0 (0 = off), got {self.rank}")

    @property
    def enabled(self) -> bool:
        return self.rank > 0


def _peft() -> Any:
    try:
        import peft
    except ImportError as error:
        raise MissingPeftError("LoRA needs the peft package: pip install 'rlhf[lora]'") from error
    return peft


def add_adapters(model: nn.Module, config: LoraConfig) -> nn.Module:
    """`model` with trainable LoRA adapters and frozen base weights (or unchanged with rank 0)."""
    if not config.enabled:
        return model
    peft = _peft()
    names = config.target_modules
    targets = names if names == "all-linear" else [n.strip() for n in names.split(",") if n.strip()]
    settings = peft.LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=targets,
        fan_in_fan_out=_has_conv1d(model),
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():  # peft reads an attribute transformers 5 deprecated
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        return peft.get_peft_model(model, settings)  # type: ignore[no-any-return]


def _has_conv1d(model: nn.Module) -> bool:
    """GPT-2 stores its linear layers transposed (`Conv1D`); peft must be told."""
    from transformers.pytorch_utils import Conv1D

    return any(isinstance(module, Conv1D) for module in model.modules())


def has_adapters(model: nn.Module) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "merge_and_unload")


@contextmanager
def adapters_off(model: nn.Module) -> Iterator[nn.Module]:
    """The base model: `model` with its adapters disabled inside the block."""
    if not has_adapters(model):
        raise ValueError("adapters_off needs a model with LoRA adapters")
    with model.disable_adapter():  # type: ignore[operator]
        yield model


def merged(model: nn.Module) -> nn.Module:
    """A plain model for export: a copy with the adapters merged into the base weights."""
    if not has_adapters(model):
        return model
    return copy.deepcopy(model).merge_and_unload()  # type: ignore[operator,no-any-return]
