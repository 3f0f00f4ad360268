"""What the benchmarks share: memory readings of this process, and the tiny GPT-2 they all train.

Each benchmark runs every framework in its own worker process, so these readings are per framework.
Imported by the scripts in this folder (run as `python benchmarks/NAME.py`, which puts this folder on
the import path).
"""

from __future__ import annotations

import os
import resource
from typing import Any


def rss_mb() -> float:
    """Resident memory of this process now, in MiB (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """The most resident memory this process has held, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tiny_gpt2(
    tokenizer: Any, *, hidden_size: int, num_layers: int, num_heads: int, max_length: int, seed: int
) -> Any:
    """The GPT-2-shaped causal LM both sides of a comparison train, sized for the tokenizer."""
    from rlhf.models import TinyModelConfig, tiny_causal_lm

    shape = TinyModelConfig(
        arch="gpt2",
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        max_positions=max_length,
        seed=seed,
    )
    return tiny_causal_lm(shape, tokenizer=tokenizer)
