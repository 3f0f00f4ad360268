"""Learning-rate schedules as pure functions of the step."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from rlhf.train.config import Schedule

DECAYS: Mapping[Schedule, Callable[[float], float]] = {
    "constant": lambda progress: 1.0,
    "linear": lambda progress: 1.0 - progress,
    "cosine": lambda progress: 0.5 * (1.0 + math.cos(math.pi * progress)),
}
"""The multiplier after warmup as a function of the decay's progress in [0, 1]."""


def lr_factor(step: int, *, total_steps: int, warmup_steps: int, schedule: Schedule) -> float:
    """The multiplier of the peak learning rate for optimizer step `step` (0-based).

    Linear warmup from 1/(warmup+1) of the peak to the peak over `warmup_steps` (never exactly 0, so
    the first step still learns), then `constant`, `linear` decay to 0 at `total_steps`, or
    half-cosine decay to 0 at `total_steps` (Loshchilov and Hutter 2017, without restarts).
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    decay_steps = max(1, total_steps - warmup_steps)
    return DECAYS[schedule](min(1.0, (step - warmup_steps) / decay_steps))
