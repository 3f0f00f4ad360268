"""The `rlhf` command: parse arguments into a typed config, call the library, report.

Every command prints human-readable lines and, with `--json`, one machine-readable summary line
last on stdout (the human lines then go to stderr). Exit status: 0 success, 1 failure (invalid
data, a refused operation), 2 a usage error.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import logging
import os
import sys
from collections.abc import Sequence

from rlhf import __version__
from rlhf.cli.arguments import add_arguments, build
from rlhf.cli.commands import MODULES, USER_ERRORS, Command, CommandFailed, Output, load
from rlhf.progress import set_quiet

logger = logging.getLogger("rlhf")


def _wanted(argv: Sequence[str]) -> list[str]:
    """The commands whose modules the parser needs: the one named, or those of a group asked about.

    `rlhf train sft ...` loads `train sft` only; `rlhf train --help` loads every `train` command to
    list them with their help; `rlhf --help` loads only the one-word commands (groups need none).
    """
    words = list(itertools.takewhile(lambda word: not word.startswith("-"), argv))
    named = [name for name in MODULES if name.split() == words[: len(name.split())]]
    if named:
        return named
    if not words:
        return [name for name in MODULES if " " not in name]
    return [name for name in MODULES if name.split()[: len(words)] == words]


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlhf", description="Reinforcement learning from human feedback, end to end."
    )
    parser.add_argument("--version", action="version", version=f"rlhf {__version__}")
    groups = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    subparsers: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    wanted = _wanted(argv)
    for name in MODULES:
        *path, leaf = name.split()
        parent = groups
        for depth, part in enumerate(path):
            key = " ".join(path[: depth + 1])
            if key not in subparsers:
                group = parent.add_parser(part, help=f"{part} commands")
                subparsers[key] = group.add_subparsers(
                    title=f"{key} commands", metavar="COMMAND", required=True
                )
            parent = subparsers[key]
        if name not in wanted:
            parent.add_parser(leaf)  # listed by name; its module is not imported
            continue
        command = load(name)
        sub = parent.add_parser(leaf, help=command.help, description=command.help)
        add_arguments(sub, command.config)
        sub.add_argument("--json", action="store_true", help="print one JSON summary line last")
        sub.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
        sub.set_defaults(command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `rlhf` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser(argv)
    args = parser.parse_args(argv)
    command: Command = args.command
    set_quiet(args.quiet)
    if args.quiet or not sys.stderr.isatty():  # also silences transformers' own progress bars
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        if "transformers" in sys.modules:  # imported already: its switch was read at import
            sys.modules["transformers"].utils.logging.disable_progress_bar()
    logging.basicConfig(
        level=logging.ERROR if args.quiet else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config: object = build(command.config, args)
    except ValueError as error:  # raised by a config's __post_init__
        parser.error(f"{command.name}: {error}")
    worker = int(os.environ.get("RANK", "0")) > 0  # a second process of torchrun: rank 0 reports
    out = Output(stream=io.StringIO() if worker else sys.stderr if args.json else sys.stdout)
    status = 0
    try:
        summary = command.run(config, out)
    except CommandFailed as failure:
        summary, status = failure.summary, 1
        out.line(f"rlhf {command.name}: {failure}")
    except USER_ERRORS as error:
        print(f"rlhf {command.name}: error: {error}", file=sys.stderr)
        summary, status = {"ok": False, "error": str(error)}, 1
    if args.json and not worker:
        print(json.dumps(summary, ensure_ascii=False, default=str), flush=True)
    return status
