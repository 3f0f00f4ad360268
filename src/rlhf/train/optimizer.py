"""AdamW with the usual parameter groups, and the learning rate set from the schedule each step."""

from __future__ import annotations

import torch
from torch import nn

from rlhf.train.config import OptimizerConfig
from rlhf.train.schedule import lr_factor

FUSED_DEVICES = ("cpu", "cuda")
"""Devices where AdamW runs as one fused kernel over all parameters (6x faster than `foreach` on
a CPU for a small model); elsewhere it uses the multi-tensor `foreach` implementation."""


def build_optimizer(model: nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; no weight decay on biases and norm weights (1-D)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    groups = [
        {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]
    fused = all(p.device.type in FUSED_DEVICES for p in trainable)
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
    """Set every group's learning rate for optimizer step `step`; return it."""
    lr = config.lr * lr_factor(
        step, total_steps=total_steps, warmup_steps=config.warmup_steps, schedule=config.schedule
    )
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
