"""The table of every `rlhf` command: its words, and the module that implements it.

A command's module (its config dataclass and its run function) is imported only when that command
runs or shows its `--help`, so `rlhf data validate` never pays for importing torch.
"""

from __future__ import annotations

import importlib

from rlhf.cli.base import USER_ERRORS, Command, CommandFailed, Output

MODULES: dict[str, str] = {
    "data validate": "rlhf.cli.data",
    "data stats": "rlhf.cli.data",
    "data convert": "rlhf.cli.data",
    "data import": "rlhf.cli.data",
    "data export": "rlhf.cli.data",
    "quality report": "rlhf.cli.quality",
    "quality aggregate": "rlhf.cli.quality",
    "train sft": "rlhf.cli.train",
    "train dpo": "rlhf.cli.train",
    "train ppo": "rlhf.cli.train",
    "train grpo": "rlhf.cli.train",
    "train rloo": "rlhf.cli.train",
    "train reward": "rlhf.cli.reward",
    "reward score": "rlhf.cli.reward",
    "reward eval": "rlhf.cli.reward",
    "sample": "rlhf.cli.sample",
    "eval": "rlhf.cli.evaluate",
    "eval-people": "rlhf.cli.evaluate",
    "report": "rlhf.cli.report",
    "demo": "rlhf.cli.demo",
    "serve": "rlhf.cli.serve",
}
"""Every command's words, and the module whose `COMMANDS` defines it."""


def load(name: str) -> Command:
    """The command called `name` (importing its module)."""
    commands: tuple[Command, ...] = importlib.import_module(MODULES[name]).COMMANDS
    return next(command for command in commands if command.name == name)


__all__ = ["MODULES", "USER_ERRORS", "Command", "CommandFailed", "Output", "load"]
