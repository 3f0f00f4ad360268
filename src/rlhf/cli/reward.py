"""`rlhf train reward`, `rlhf reward score`, `rlhf reward eval`: train, use and judge reward models."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlhf.cli.base import Command, Output, Summary
from rlhf.data.records import Annotation, PreferencePair, Ranking, Record, Text, kind_of
from rlhf.train.config import config_to_json
from rlhf.train.reward import RewardTrainConfig, train_reward

__all__ = ["COMMANDS", "EvalConfig", "ScoreConfig"]


@dataclass(frozen=True, kw_only=True)
class ScoreConfig:
    model: Path
    """A reward model directory (the --output of `rlhf train reward`)."""
    data: Path
    """Records whose responses to score: pairs, rankings, annotations or demonstrations."""
    out: Path | None = None
    """Write one JSON line per record here: its line, id and the reward of each response."""
    raw: bool = False
    """Write raw rewards (the Bradley-Terry scale) instead of normalized ones."""

    def __post_init__(self) -> None:
        if self.out is not None and self.out.suffix != ".jsonl":
            raise ValueError(f"--out must be a .jsonl file, got {self.out}")


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    model: Path
    """A reward model directory (the --output of `rlhf train reward`)."""
    data: Path
    """Judged comparisons: pairs, rankings or annotations."""
    held_out: float = 0.0
    """Evaluate only the prompts that `rlhf train reward --eval-fraction F` held out (pass F and
    the same --split-seed); 0 evaluates every record."""
    split_seed: int = 0
    """The --split-seed of the training run (with --held-out)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.held_out < 1.0:
            raise ValueError(f"--held-out must lie in [0, 1), got {self.held_out}")


def responses_of(record: Record) -> tuple[Text, ...]:
    """The responses a record carries, in its own order (chosen first for a pair)."""
    if isinstance(record, PreferencePair):
        return (record.chosen, record.rejected)
    if isinstance(record, Ranking | Annotation):
        return tuple(record.responses)
    completion: Text | None = getattr(record, "completion", None)  # a demonstration
    if completion is not None:
        return (completion,)
    raise ValueError(f"{kind_of(record)} records have no responses to score")


def train(config: RewardTrainConfig, out: Output) -> Summary:
    summary = train_reward(config, say=out.line, resolved=config_to_json(config))
    held = summary.get("eval") or {}
    if held:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in held.items())
        out.line(f"held-out: {shown}")
    out.line(f"{config.objective} model in {config.output}")
    return summary


def score(config: ScoreConfig, out: Output) -> Summary:
    from rlhf.data.io import load_records
    from rlhf.models.reward_loader import load_reward_model

    records = load_records(config.data)
    model = load_reward_model(config.model)
    items = [(r.prompt, response) for r in records for response in responses_of(r)]
    prompts, responses = [p for p, _ in items], [x for _, x in items]
    rewards = model.score(prompts, responses, normalize=not config.raw).tolist()
    stds = model.score_with_std(prompts, responses)[1].tolist() if model.heads > 1 else None
    if config.out is not None:
        _write_scores(config.out, records, rewards, stds)
        out.line(f"wrote {len(records)} records' scores to {config.out}")
    mean = sum(rewards) / max(len(rewards), 1)
    out.line(f"scored {len(rewards)} responses of {len(records)} records: mean reward {mean:.4g}")
    return {
        "ok": True,
        "records": len(records),
        "responses": len(rewards),
        "mean": mean,
        "normalized": not config.raw,
        "out": None if config.out is None else str(config.out),
    }


def _write_scores(
    path: Path, records: Sequence[Record], rewards: list[float], stds: list[float] | None
) -> None:
    from rlhf.data.files import atomic_write_text

    lines = []
    start = 0
    for number, record in enumerate(records, start=1):
        count = len(responses_of(record))
        row: dict[str, Any] = {"record": number, "id": getattr(record, "id", None)}
        row["rewards"] = rewards[start : start + count]
        if stds is not None:
            row["std"] = stds[start : start + count]
        lines.append(json.dumps(row))
        start += count
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def evaluate(config: EvalConfig, out: Output) -> Summary:
    from rlhf.data.comparisons import comparisons_from_records, index_comparisons
    from rlhf.data.io import load_records
    from rlhf.data.split import split_by_prompt
    from rlhf.models.reward_loader import load_reward_model
    from rlhf.train.reward_eval import evaluate_scorer, tie_report

    records = load_records(config.data)
    if config.held_out:
        records = split_by_prompt(records, config.held_out, seed=config.split_seed)[1]
    comparisons, dropped = comparisons_from_records(records)
    model = load_reward_model(config.model)
    report = evaluate_scorer(
        lambda p, r: model.score(p, r, normalize=False),
        index_comparisons(comparisons),
        model.objective,
    )
    if model.tie_nu is not None:
        report.update(tie_report(model.tie_nu))
    shown = ", ".join(f"{k} {v:.4g}" for k, v in report.items())
    out.line(f"{config.data}: {shown} ({dropped} records without a preference left out)")
    shown_first = ("accuracy", "sign_accuracy", "pairs", "ece")
    first: dict[str, Any] = {k: report[k] for k in shown_first if k in report}
    return {**first, **report, "records": len(records), "dropped": dropped}


COMMANDS = (
    Command(
        "train reward",
        "a reward model from comparisons (or, --objective cost, a Safe RLHF cost model)",
        RewardTrainConfig,
        train,
    ),
    Command(
        "reward score", "score the responses of a data file with a reward model", ScoreConfig, score
    ),
    Command(
        "reward eval",
        "pairwise accuracy, loss, margin and calibration of a reward model on comparisons",
        EvalConfig,
        evaluate,
    ),
)
