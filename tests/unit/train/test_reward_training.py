"""`train_reward` end to end on tiny models: files on disk, exact resume, normalization, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from rlhf.data import InvalidDataError, write_records
from rlhf.data.comparisons import comparisons_from_records, index_comparisons
from rlhf.demo.task import gold_pairs, make_prompts
from rlhf.models import ModelLoadError
from rlhf.models.ensemble import RewardEnsemble
from rlhf.models.reward import RewardModel
from rlhf.models.reward_loader import load_reward_model
from rlhf.train import LoopConfig, OptimizerConfig
from rlhf.train.config import config_to_json
from rlhf.train.metrics import read_metrics
from rlhf.train.reward import RewardTrainConfig, load_reward_data, train_reward
from rlhf.train.reward_transformer import build_reward_model, training_texts


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: tiny models gain nothing from more, and shared CPUs lose a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    write_records(gold_pairs(make_prompts(160, seed=0), seed=0), path)
    return path


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def config(pairs_file: Path, output: Path, cache_dir: Path, **changes: object) -> RewardTrainConfig:
    base = RewardTrainConfig(
        data=str(pairs_file),
        output=output,
        cache_dir=cache_dir,
        max_length=48,
        eval_fraction=0.2,
        optim=OptimizerConfig(lr=2e-3, schedule="constant"),
        loop=LoopConfig(max_steps=6, batch_size=8, micro_batch_size=4, eval_every=3, save_every=3),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def run(cfg: RewardTrainConfig) -> dict[str, object]:
    return train_reward(cfg, say=lambda line: None, resolved=config_to_json(cfg))


def test_tiny_transformer_trains_and_leaves_everything_on_disk(
    pairs_file: Path, cache_dir: Path, tmp_path: Path
) -> None:
    cfg = config(pairs_file, tmp_path / "rm", cache_dir)
    summary = run(cfg)
    out = tmp_path / "rm"
    assert summary["steps"] == 6
    assert json.loads((out / "rlhf_config.json").read_text())["loop"]["max_steps"] == 6
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(torch.isfinite(torch.tensor(r["train/loss"])) for r in rows)
    assert {"eval/accuracy", "eval/ece", "eval/margin", "eval/loss"} <= set(rows[2])
    model = load_reward_model(out)
    assert isinstance(model, RewardModel)
    assert model.normalization.reference.endswith("training responses")


def test_normalization_is_exact_on_the_training_responses(
    pairs_file: Path, cache_dir: Path, tmp_path: Path
) -> None:
    from rlhf.data import load_records
    from rlhf.data.split import split_by_prompt

    cfg = config(pairs_file, tmp_path / "rm", cache_dir, loop=LoopConfig(max_steps=2, batch_size=8))
    run(cfg)
    model = load_reward_model(tmp_path / "rm")
    train_records, _ = split_by_prompt(load_records(pairs_file), 0.2, seed=0)
    comparisons, _ = comparisons_from_records(train_records)
    items = index_comparisons(comparisons).items
    scores = model.score([p for p, _ in items], [r for _, r in items])
    assert scores.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert scores.std(correction=0).item() == pytest.approx(1.0, abs=1e-4)


def test_resume_after_a_stop_equals_an_uninterrupted_run(
    pairs_file: Path, cache_dir: Path, tmp_path: Path
) -> None:
    loop = LoopConfig(
        max_steps=6, batch_size=8, micro_batch_size=4, eval_every=3, save_every=3, keep_best=False
    )
    run(config(pairs_file, tmp_path / "whole", cache_dir, loop=loop))
    run(config(pairs_file, tmp_path / "parts", cache_dir, loop=replace(loop, max_steps=3)))
    run(config(pairs_file, tmp_path / "parts", cache_dir, loop=loop))  # resumes at step 3
    whole, parts = read_metrics(tmp_path / "whole"), read_metrics(tmp_path / "parts")
    assert [r["train/loss"] for r in parts] == [r["train/loss"] for r in whole]
    a = torch.load(tmp_path / "whole" / "checkpoint" / "model.pt")
    b = torch.load(tmp_path / "parts" / "checkpoint" / "model.pt")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


def test_parameters_move(pairs_file: Path, cache_dir: Path, tmp_path: Path) -> None:
    run(config(pairs_file, tmp_path / "rm", cache_dir, loop=LoopConfig(max_steps=2, batch_size=8)))
    model = load_reward_model(tmp_path / "rm")
    assert isinstance(model, RewardModel)
    cfg = config(pairs_file, tmp_path / "x", cache_dir)
    data = load_reward_data(cfg.data_files, eval_fraction=0.2, seed=0)
    fresh = build_reward_model(cfg, training_texts(data.train), seed=0)  # the same initial model
    moved = [
        not torch.equal(p, q) for p, q in zip(model.parameters(), fresh.parameters(), strict=True)
    ]
    assert moved[-2]  # the head's weight; its bias gets no gradient, pairwise losses cancel it
    assert not moved[-1]
    assert sum(moved) > len(moved) // 2  # and most of the backbone


@pytest.mark.parametrize("arch", ["llama", "bert"])
def test_other_tiny_backbones_train(
    pairs_file: Path, cache_dir: Path, tmp_path: Path, arch: str
) -> None:
    cfg = config(
        pairs_file,
        tmp_path / "rm",
        cache_dir,
        tiny_arch=arch,
        loop=LoopConfig(max_steps=2, batch_size=8),
    )
    summary = run(cfg)
    model = load_reward_model(tmp_path / "rm")
    assert isinstance(model, RewardModel)
    assert model.pooling == ("mean" if arch == "bert" else "last")
    assert "accuracy" in summary["eval"]  # type: ignore[operator]


def test_transformer_ensemble_has_members_and_a_spread(
    pairs_file: Path, cache_dir: Path, tmp_path: Path
) -> None:
    cfg = config(
        pairs_file,
        tmp_path / "rm",
        cache_dir,
        ensemble=2,
        loop=LoopConfig(max_steps=2, batch_size=8),
    )
    run(cfg)
    model = load_reward_model(tmp_path / "rm")
    assert isinstance(model, RewardEnsemble)
    assert (tmp_path / "rm" / "member-1" / "reward_model.json").is_file()
    _, std = model.score_with_std(["What is 2 plus 2?"], ["The answer is 4."])
    assert std.item() > 0


def test_features_model_with_ensemble_heads(
    pairs_file: Path, cache_dir: Path, tmp_path: Path
) -> None:
    summary = run(config(pairs_file, tmp_path / "f", cache_dir, kind="features", ensemble=3))
    assert summary["eval"]["accuracy"] > 0.6  # type: ignore[index]
    model = load_reward_model(tmp_path / "f")
    assert model.heads == 3
    assert read_metrics(tmp_path / "f")[-1]["eval/accuracy"] == summary["eval"]["accuracy"]  # type: ignore[index]


def test_an_invalid_file_stops_before_training(tmp_path: Path, cache_dir: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "a", "rejected": "a"}\n{"prompt": "q"}\n')
    with pytest.raises(InvalidDataError) as error:
        run(config(bad, tmp_path / "rm", cache_dir))
    assert "bad.jsonl:1" in str(error.value)
    assert "bad.jsonl:2" in str(error.value)
    assert not (tmp_path / "rm").exists()


def test_a_missing_backbone_says_so(pairs_file: Path, tmp_path: Path, cache_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        run(config(pairs_file, tmp_path / "rm", cache_dir, backbone=str(tmp_path / "nowhere")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        run(config(pairs_file, tmp_path / "rm", cache_dir, backbone=str(tmp_path / "empty")))


def test_accumulated_micro_batches_equal_one_batch(
    pairs_file: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """Units are summed and divided by the global count: 4 micro-batches of 2 = 1 batch of 8."""
    weights = []
    for micro in (8, 2):
        loop = LoopConfig(max_steps=3, batch_size=8, micro_batch_size=micro, keep_best=False)
        run(config(pairs_file, tmp_path / f"micro{micro}", cache_dir, loop=loop))
        weights.append(torch.load(tmp_path / f"micro{micro}" / "checkpoint" / "model.pt"))
    for name in weights[0]:
        torch.testing.assert_close(weights[0][name], weights[1][name], atol=2e-5, rtol=1e-4)
