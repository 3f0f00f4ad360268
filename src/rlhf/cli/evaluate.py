"""`rlhf eval`: win rate of a policy against a baseline, with intervals, length and diversity."""

from __future__ import annotations

from rlhf.cli.base import Command, Output, Summary
from rlhf.eval.compare import EvalConfig, EvalResult, SideResult, evaluate, summarize
from rlhf.quality.bootstrap import finite_or_none


def _side_lines(name: str, side: SideResult, out: Output) -> None:
    reward = f", reward model {side.reward_mean:.4g}" if side.reward_mean is not None else ""
    out.line(
        f"{name} {side.model}: judge {side.judge_mean:.4g}{reward}, length "
        f"{side.length_mean:.1f} tokens, distinct-1 {side.distinct_1:.3f}, "
        f"distinct-2 {side.distinct_2:.3f}"
    )


def run_eval(config: EvalConfig, out: Output) -> Summary:
    result: EvalResult = evaluate(config)
    low, high = result.interval(config.interval)
    level = f"{config.confidence:.0%}"
    out.line(
        f"win rate {result.win_rate:.3f} [{low:.3f}, {high:.3f}] ({level} {config.interval}) "
        f"over {result.comparisons} comparisons on {result.prompts} prompts: "
        f"{result.wins} wins, {result.ties} ties, {result.losses} losses"
    )
    _side_lines("policy  ", result.policy, out)
    _side_lines("baseline", result.baseline, out)
    if result.reward_agreement is not None:
        agreement = finite_or_none(result.reward_agreement)
        shown = "n/a" if agreement is None else f"{agreement:.3f}"
        out.line(
            f"reward model agrees with the judge on {shown} of {result.decisive} decided pairs"
        )
    summary = summarize(result, config)
    if config.output is not None:
        out.line(f"wrote {config.output}")
    return summary


COMMANDS = (
    Command(
        "eval",
        "win rate of a policy against a baseline on held-out prompts, judged by a gold scorer "
        "or a reward model",
        EvalConfig,
        run_eval,
    ),
)
