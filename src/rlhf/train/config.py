"""The settings every trainer shares: the optimizer and the loop. Algorithms nest them as `optim` and
`loop`, so the command line reads `--optim.lr 1e-4 --loop.batch-size 32` for every algorithm."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rlhf.errors import UserError

Schedule = Literal["constant", "linear", "cosine"]
Precision = Literal["auto", "fp32", "bf16"]


class ConfigError(UserError):
    """A setting that cannot work; the message names the field and the fix."""


@dataclass(frozen=True, kw_only=True)
class OptimizerConfig:
    """AdamW with decoupled weight decay, a learning-rate schedule and gradient clipping."""

    lr: float = 5e-5
    """Peak learning rate, reached after the warmup."""
    weight_decay: float = 0.0
    """AdamW weight decay (not applied to biases and norm weights)."""
    beta1: float = 0.9
    """AdamW's first-moment decay."""
    beta2: float = 0.999
    """AdamW's second-moment decay."""
    eps: float = 1e-8
    """AdamW's denominator epsilon."""
    schedule: Schedule = "cosine"
    """How the learning rate decays after the warmup: constant, linear to 0, or cosine to 0."""
    warmup_steps: int = 0
    """Optimizer steps of linear warmup from 0 to `lr`."""
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this; 0 turns clipping off."""

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.lr}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("optim.beta1 and optim.beta2 must lie in [0, 1)")
        if self.warmup_steps < 0 or self.max_grad_norm < 0 or self.weight_decay < 0:
            raise ConfigError("optim.warmup_steps, max_grad_norm and weight_decay must be >= 0")


@dataclass(frozen=True, kw_only=True)
class LoopConfig:
    """How long to train, in what batches, and how often to evaluate and save.

    `batch_size` is the global batch of one optimizer step, summed over processes and gradient
    accumulation; the loop derives the accumulation steps from it, `micro_batch_size` and the number
    of processes, so the same config trains the same way on 1 or N processes.
    """

    seed: int = 0
    """Seeds model initialization, data order, dropout and sampling."""
    epochs: int = 1
    """Passes over the training data (ignored when `max_steps` is set)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps."""
    batch_size: int = 16
    """Examples per optimizer step, over all processes and accumulation steps."""
    micro_batch_size: int = 8
    """Examples per forward pass on one process; lower it to save memory."""
    eval_every: int = 50
    """Evaluate every this many optimizer steps (and at the end); 0 evaluates only at the end."""
    save_every: int = 50
    """Write a resumable checkpoint every this many optimizer steps (and at the end)."""
    keep_best: bool = True
    """Export the best model by `best_metric` and leave it as the output model at the end."""
    best_metric: str = "eval/loss"
    """The evaluation metric that decides the best model."""
    best_mode: Literal["min", "max"] = "min"
    """Whether a lower or a higher `best_metric` is better."""
    precision: Precision = "auto"
    """Autocast precision: bf16 on GPUs that support it with `auto`, fp32 elsewhere."""
    device: str = "auto"
    """`auto` (the local GPU of this process if any, else the CPU), `cpu`, `cuda`, `cuda:1`, ..."""
    resume: bool = True
    """Continue from the checkpoint in the output directory when there is one."""
    tensorboard: bool = False
    """Also write TensorBoard event files under OUTPUT/tensorboard (needs rlhf[tensorboard])."""
    wandb: str | None = None
    """Also log to this Weights & Biases project (needs the wandb package)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.micro_batch_size < 1:
            raise ConfigError("loop.batch_size and loop.micro_batch_size must be >= 1")
        if self.epochs < 1:
            raise ConfigError(f"loop.epochs must be >= 1, got {self.epochs}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"loop.max_steps must be >= 1, got {self.max_steps}")
        if self.eval_every < 0 or self.save_every < 0:
            raise ConfigError("loop.eval_every and loop.save_every must be >= 0")

    def accumulation_steps(self, world_size: int) -> int:
        """Micro-batches each process runs per optimizer step."""
        per_step = self.micro_batch_size * world_size
        if self.batch_size % per_step:
            raise ConfigError(
                f"loop.batch_size={self.batch_size} is not a multiple of loop.micro_batch_size="
                f"{self.micro_batch_size} x {world_size} process(es); choose a batch size that is"
            )
        return self.batch_size // per_step


def config_to_json(config: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON values (paths as strings), for resolved-config files."""

    def convert(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    converted: dict[str, Any] = convert(dataclasses.asdict(config))
    return converted
