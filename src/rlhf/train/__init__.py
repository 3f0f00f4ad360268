"""Training: the one loop every algorithm composes, and one short module per algorithm.

- `config`: `OptimizerConfig` and `LoopConfig`, nested by every algorithm's config;
- `loop`: `fit(model, objective, examples, collate, ...)`, the loop itself;
- `batches`, `checkpoint`, `distributed`, `devices`, `metrics`, `optimizer`, `schedule`: its parts;
- `sft`, `dpo`: the offline algorithms.
"""

from rlhf.train.config import ConfigError, LoopConfig, OptimizerConfig
from rlhf.train.loop import Objective, TrainResult, fit

__all__ = ["ConfigError", "LoopConfig", "Objective", "OptimizerConfig", "TrainResult", "fit"]
