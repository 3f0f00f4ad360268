"""`rlhf eval`: win rate of a policy against a baseline, with intervals, length and diversity."""

from __future__ import annotations

import json

from rlhf.cli.base import Command, Output, Summary
from rlhf.data.files import atomic_write_text
from rlhf.eval.compare import EvalConfig, EvalResult, SideResult, evaluate, summarize
from rlhf.eval.human import PeopleResultsConfig, people_win_rate, send_to_people
from rlhf.quality.bootstrap import finite_or_none


def _side_lines(name: str, side: SideResult, out: Output) -> None:
    reward = f", reward model {side.reward_mean:.4g}" if side.reward_mean is not None else ""
    out.line(
        f"{name} {side.model}: judge {side.judge_mean:.4g}{reward}, length "
        f"{side.length_mean:.1f} tokens, distinct-1 {side.distinct_1:.3f}, "
        f"distinct-2 {side.distinct_2:.3f}"
    )


def _send(config: EvalConfig, out: Output) -> Summary:
    sent = send_to_people(config)
    out.line(
        f"campaign {sent['campaign']} created in {sent['db']}: {sent['items']} pairs "
        f"(a = {config.policy}, b = {config.baseline}), {sent['answers_needed']} answers needed"
    )
    out.line(f"people judge them in `rlhf serve --db {config.people.db}`; then run "
             f"`rlhf eval-people --campaign {sent['campaign']} --db {config.people.db}`")  # fmt: skip
    return sent


def run_eval(config: EvalConfig, out: Output) -> Summary:
    if config.people.campaign is not None:
        return _send(config, out)
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


def eval_people(config: PeopleResultsConfig, out: Output) -> Summary:
    summary = people_win_rate(config)
    rate = summary["win_rate"]
    shown = "n/a" if rate is None else f"{rate:.3f}"
    out.line(
        f"people's win rate {shown} [{summary['win_rate_ci_low']}, {summary['win_rate_ci_high']}] "
        f"({config.confidence:.0%} Wilson) over {summary['items_answered']} of "
        f"{summary['items']} pairs, {summary['answers']} of {summary['answers_needed']} answers"
    )
    if config.output is not None:
        atomic_write_text(config.output, json.dumps(summary, indent=2) + "\n")
        out.line(f"wrote {config.output}")
    return summary


COMMANDS = (
    Command(
        "eval",
        "win rate of a policy against a baseline on held-out prompts, judged by a gold scorer, "
        "a reward model, or people (a campaign for the web app)",
        EvalConfig,
        run_eval,
    ),
    Command(
        "eval-people",
        "the win rate people gave a policy in a campaign made by `rlhf eval --people.campaign`",
        PeopleResultsConfig,
        eval_people,
    ),
)
