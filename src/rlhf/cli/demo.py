"""`rlhf demo`: the whole RLHF loop on the built-in task; the headline figures, checks and report."""

from __future__ import annotations

from rlhf.cli.base import Command, CommandFailed, Output, Summary
from rlhf.demo import DemoCheckFailed, DemoConfig, run_demo

HEADLINE = ("gold_win_rate", "gold_win_rate_ci_low", "dpo_gold_win_rate", "best_of_n_gold_win_rate",
            "rm_gold_agreement", "majority_gold_agreement", "kl")  # fmt: skip


def _headline(summary: Summary, out: Output) -> None:
    out.line("")
    for name in HEADLINE:
        value = summary[name]
        out.line(f"{name:>25}  {'n/a' if value is None else f'{value:.3f}'}")
    for statement, held in summary["checks"].items():
        out.line(f"{'shown' if held else 'NOT SHOWN':>25}  {statement}")
    out.line(f"demo finished in {summary['seconds']} s; report: {summary['report']}")


def demo(config: DemoConfig, out: Output) -> Summary:
    try:
        summary = run_demo(config, out.line)
    except DemoCheckFailed as failed:
        _headline(failed.summary, out)
        raise CommandFailed(str(failed), failed.summary) from None
    _headline(summary, out)
    return summary


COMMANDS = (
    Command(
        "demo",
        "the whole RLHF loop on a built-in task: SFT, simulated annotators, quality checks, a "
        "reward-model ensemble, PPO, DPO and best-of-n, iterated, evaluated against a hidden gold "
        "preference, with an HTML report",
        DemoConfig,
        demo,
    ),
)
