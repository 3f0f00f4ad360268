"""AdamW with the usual parameter groups, and the learning rate set from the schedule each step.

A model may train some parameters at their own peak learning rate (on the same schedule): its
method `peak_learning_rates()` returns {parameter name: rate}, and each of those parameters gets a
group of its own (a reward model's Davidson tie parameter,
`rlhf.train.reward_objective.WithTieParameter`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rlhf.train.config import OptimizerConfig
from rlhf.train.schedule import lr_factor

FUSED_DEVICES = ("cpu", "cuda")
"""Devices where AdamW runs as one fused kernel over all parameters (6x faster than `foreach` on
a CPU for a small model); elsewhere it uses the multi-tensor `foreach` implementation."""


def build_optimizer(model: nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; no weight decay on biases and norm weights (1-D).

    Parameters named by the model's `peak_learning_rates()`, if it has one, get a group each with
    their own peak rate (`peak_lr`, which `set_learning_rate` scales by the schedule).
    """
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    own: dict[str, float] = getattr(model, "peak_learning_rates", dict)()
    unknown = set(own) - {name for name, _ in named}
    if unknown:
        raise ValueError(f"peak_learning_rates names no trainable parameter: {sorted(unknown)}")
    trainable = [p for name, p in named if name not in own]
    groups: list[dict[str, Any]] = [
        {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]
    groups += [
        {
            "params": [p],
            "weight_decay": config.weight_decay if p.ndim >= 2 else 0.0,
            "lr": own[name],
            "peak_lr": own[name],
        }
        for name, p in named
        if name in own
    ]
    fused = all(p.device.type in FUSED_DEVICES for _, p in named)
    return torch.optim.AdamW(
        [g for g in groups if g["params"]],
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        eps=config.eps,
        fused=fused,
        foreach=not fused,
    )


def set_learning_rate(
    optimizer: torch.optim.Optimizer, config: OptimizerConfig, *, step: int, total_steps: int
) -> float:
    """Set every group's learning rate for optimizer step `step`; return optim.lr's.

    A group with its own `peak_lr` (see `build_optimizer`) follows the same schedule from it.
    """
    factor = lr_factor(
        step, total_steps=total_steps, warmup_steps=config.warmup_steps, schedule=config.schedule
    )
    lr = config.lr * factor
    for group in optimizer.param_groups:
        group["lr"] = group["peak_lr"] * factor if "peak_lr" in group else lr
    return lr
