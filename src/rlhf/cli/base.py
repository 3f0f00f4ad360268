"""What a command is, and how it talks to the terminal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rlhf.data import ReadResult, read_file
from rlhf.errors import UserError

Summary = dict[str, Any]

USER_ERRORS: tuple[type[BaseException], ...] = (UserError, OSError)
"""Errors reported as one message and exit status 1; anything else is a bug (traceback)."""


@dataclass(frozen=True)
class Command:
    """One `rlhf ...` command: its words, one-line help, config dataclass and implementation."""

    name: str
    help: str
    config: type
    run: Callable[[Any, Output], Summary]
    """Does the work; returns the `--json` summary, or raises `CommandFailed`."""


@dataclass
class Output:
    """Human-readable lines of a command (stdout, or stderr when `--json` owns stdout)."""

    stream: TextIO
    lines: list[str] = field(default_factory=list)

    def line(self, text: str = "") -> None:
        self.lines.append(text)
        print(text, file=self.stream, flush=True)


class CommandFailed(Exception):
    """A command that ran and found a failure (e.g. invalid data): exit 1, summary still printed."""

    def __init__(self, message: str, summary: Summary) -> None:
        super().__init__(message)
        self.summary = summary


def read_valid(path: Path, format: str | None, out: Output) -> ReadResult:
    """Read `path`; on any problem print them all and fail before anything is written."""
    result = read_file(path, format=format)
    if result.problems:
        for problem in result.problems:
            out.line(str(problem))
        raise CommandFailed(
            f"{path}: {len(result.problems)} problem(s); nothing was written",
            {"ok": False, "file": str(path), "problems": len(result.problems)},
        )
    return result
