"""Which examples each process trains on at each step: a pure function of (seed, step).

Every epoch is a fresh permutation of the examples seeded by (seed, epoch); optimizer step `s`
takes the next `batch_size` of them; process `r` of `W` takes every W-th of those, and splits its
share into micro-batches. Nothing here has state, so resuming at step `s` needs nothing but `s`,
and the global batch of a step is the same on 1 process as on W. The last partial batch of an epoch
is dropped, so every step averages over the same number of examples.

With example sizes (tokens), a process's share of a step is sorted by size before it is split, so
each micro-batch holds examples of similar length and pads less. This changes which micro-batch an
example lands in, never which step it is in, so the step's gradient (a sum over all its units, see
`rlhf.train.loop`) is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rlhf.train.config import ConfigError


@dataclass(frozen=True)
class BatchPlan:
    examples: int
    """How many training examples there are."""
    batch_size: int
    """Examples per optimizer step, over all processes."""
    micro_batch_size: int
    seed: int
    rank: int = 0
    world_size: int = 1
    sizes: Sequence[int] | None = None
    """Size (padded cost, e.g. tokens) of each example; given, micro-batches group similar sizes."""

    def __post_init__(self) -> None:
        if self.sizes is not None and len(self.sizes) != self.examples:
            raise ValueError(f"{len(self.sizes)} sizes for {self.examples} examples")
        if self.examples < self.batch_size:
            raise ConfigError(
                f"there are {self.examples} training examples, fewer than loop.batch_size="
                f"{self.batch_size}; lower --loop.batch-size or add data"
            )

    @property
    def steps_per_epoch(self) -> int:
        return self.examples // self.batch_size

    def order(self, epoch: int) -> np.ndarray:
        """The permutation of example indices for `epoch`."""
        return np.random.default_rng((self.seed, epoch)).permutation(self.examples)

    def micro_batches(self, step: int) -> list[list[int]]:
        """This process's micro-batches (lists of example indices) for optimizer step `step`."""
        epoch, position = divmod(step, self.steps_per_epoch)
        start = position * self.batch_size
        batch = self.order(epoch)[start : start + self.batch_size]
        mine = batch[self.rank :: self.world_size].tolist()
        if self.sizes is not None:
            sizes = self.sizes
            mine.sort(key=lambda i: sizes[i])  # stable: ties keep the permutation's order
        size = self.micro_batch_size
        return [mine[i : i + size] for i in range(0, len(mine), size)]
