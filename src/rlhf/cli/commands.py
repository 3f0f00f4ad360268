"""The table of every `rlhf` command."""

from rlhf.cli import data, demo, quality, reward, train
from rlhf.cli.base import USER_ERRORS, Command, CommandFailed, Output

COMMANDS: tuple[Command, ...] = (
    *data.COMMANDS,
    *quality.COMMANDS,
    *train.COMMANDS,
    *reward.COMMANDS,
    *demo.COMMANDS,
)

__all__ = ["COMMANDS", "USER_ERRORS", "Command", "CommandFailed", "Output"]
