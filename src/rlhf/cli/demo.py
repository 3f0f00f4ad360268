"""`rlhf demo`: run everything built so far on the built-in task and say what was done."""

from __future__ import annotations

from rlhf.cli.base import Command, Output, Summary
from rlhf.demo import DemoConfig, run_demo


def demo(config: DemoConfig, out: Output) -> Summary:
    summary = run_demo(config, out.line)
    out.line(f"demo finished in {summary['seconds']} s; files in {config.output}")
    return summary


COMMANDS = (
    Command("demo", "run the whole pipeline built so far on built-in data", DemoConfig, demo),
)
