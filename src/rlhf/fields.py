"""Field helpers that config dataclasses and the command line share (no heavy imports: the CLI
reads them before it knows whether a command needs torch)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = ["FLAG_ALIASES", "nested"]

FLAG_ALIASES = "rlhf.flag_aliases"
"""Field metadata: extra command-line spellings of a nested config's flags (see `nested`)."""


def nested(factory: Callable[[], Any], *, aliases: dict[str, str]) -> Any:
    """A nested config field some of whose flags also have a flat spelling.

    `cost: RewardConfig = nested(RewardConfig, aliases={"model": "--cost-model"})` accepts
    `--cost-model DIR` as well as `--cost.model DIR` on the command line.
    """
    return dataclasses.field(default_factory=factory, metadata={FLAG_ALIASES: aliases})
