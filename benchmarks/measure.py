"""What the benchmarks share: memory readings of this process, the shape of the tiny GPT-2 they all
train, and the model itself.

Each benchmark runs every framework in its own worker process, so these readings are per framework.
Imported by the scripts in this folder (run as `python benchmarks/NAME.py`, which puts this folder on
the import path).
"""

from __future__ import annotations

import os
import platform
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelShape:
    """The tiny GPT-2 of a benchmark and how its workers run; each benchmark's settings extend it."""

    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    vocab_size: int = 4096
    """Size of the BPE vocabulary trained for the benchmark."""
    threads: int = 1
    """Torch threads in every worker. 1: on a shared 2-core machine a second thread makes each
    parallel op wait for a core (measured ~8 ms per op under load), so timings then measure the
    scheduler, not the frameworks."""
    seed: int = 0


@dataclass(frozen=True)
class StepTiming(ModelShape):
    """Benchmarks that time training steps: untimed warmup steps, then a timed window, in rounds."""

    warmup_steps: int = 2
    """Untimed optimizer steps before the timed window."""
    timed_steps: int = 5
    rounds: int = 3

    @property
    def total_steps(self) -> int:
        # one step more than timed: the window ends where the step after the last timed one starts
        return self.warmup_steps + self.timed_steps + 1


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> list[float]:
    """The machine's 1, 5 and 15-minute load averages: how shared it was while measuring."""
    return [round(x, 2) for x in os.getloadavg()]


def worker_env(threads: int, work: Path) -> dict[str, str]:
    """The environment of a benchmark's worker process: `threads` torch threads, offline (nothing
    from a hub), caches under `work`, no progress bars, tokenizers' own threads and warnings off."""
    return {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(work / "datasets-cache"),
        "TOKENIZERS_PARALLELISM": "false",
        "TQDM_DISABLE": "1",
        "PYTHONWARNINGS": "ignore",
    }


def rss_mb() -> float:
    """Resident memory of this process now, in MiB (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """The most resident memory this process has held, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tiny_gpt2(tokenizer: Any, shape: ModelShape, *, max_length: int) -> Any:
    """The GPT-2-shaped causal LM both sides of a comparison train, sized for the tokenizer."""
    from rlhf.models import TinyModelConfig, tiny_causal_lm

    config = TinyModelConfig(
        arch="gpt2",
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        num_layers=shape.num_layers,
        num_heads=shape.num_heads,
        max_positions=max_length,
        seed=shape.seed,
    )
    return tiny_causal_lm(config, tokenizer=tokenizer)
