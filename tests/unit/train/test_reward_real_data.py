"""Reward models on real human preferences (../shared/data): better than chance, below a leak.

Slow (CI runs them): each trains on a real data set with its own held-out prompts. The bounds are
wide on purpose: they catch a model that learned nothing (<= 0.5) and a split that leaks (> 0.75,
above what label noise allows); the measured figures are in benchmarks/results.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rlhf.data import read_file, write_records
from rlhf.train.config import config_to_json
from rlhf.train.reward import RewardTrainConfig, train_reward

pytestmark = pytest.mark.slow


def train(config: RewardTrainConfig) -> dict[str, float]:
    summary = train_reward(config, say=lambda line: None, resolved=config_to_json(config))
    evaluation: dict[str, float] = summary["eval"]
    return evaluation


def valid_hh(shared_data: Path, tmp_path: Path, split: str) -> Path:
    """An HH split without the pairs whose chosen equals rejected (they fail validation)."""
    result = read_file(shared_data / "hh-rlhf" / split / "test.jsonl.gz")
    path = tmp_path / f"{split}.jsonl"
    write_records(result.valid_records, path)
    return path


def test_features_model_on_hh_rlhf(shared_data: Path, tmp_path: Path) -> None:
    files = [valid_hh(shared_data, tmp_path, s) for s in ("harmless-base", "helpful-online")]
    config = RewardTrainConfig(
        data=",".join(map(str, files)), output=tmp_path / "rm", kind="features", eval_fraction=0.2
    )
    evaluation = train(config)
    assert evaluation["pairs"] > 500
    assert 0.5 < evaluation["accuracy"] < 0.75
    assert 0.0 <= evaluation["ece"] < 0.2


def test_embedding_model_on_summarize_from_feedback(shared_data: Path, tmp_path: Path) -> None:
    config = RewardTrainConfig(
        data=str(shared_data / "summarize-from-feedback" / "comparisons" / "batch13.json"),
        output=tmp_path / "rm",
        kind="embedding",
        blocks="response",
        eval_fraction=0.2,
        cache_dir=tmp_path / "cache",
    )
    evaluation = train(config)
    assert evaluation["pairs"] > 150
    assert 0.6 < evaluation["accuracy"] < 0.9  # PPO summaries are easy to tell apart
