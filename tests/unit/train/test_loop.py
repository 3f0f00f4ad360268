"""The training loop on a toy regression: accumulation is exact, resume is exact, files are there."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from rlhf.train import ConfigError, LoopConfig, OptimizerConfig, fit
from rlhf.train.batches import BatchPlan
from rlhf.train.metrics import MissingExtraError, read_metrics

Example = tuple[torch.Tensor, torch.Tensor]


def examples(n: int = 48) -> list[Example]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=generator)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(n, generator=generator)
    return list(zip(x, y, strict=True))


def collate(batch: list[Example]) -> dict[str, torch.Tensor]:
    return {"x": torch.stack([x for x, _ in batch]), "y": torch.stack([y for _, y in batch])}


class Regression:
    """Squared error summed over examples; optionally crashes at a given call, like a kill."""

    def __init__(self, crash_at_call: int | None = None) -> None:
        self.calls = 0
        self.crash_at_call = crash_at_call

    def units(self, batch: dict[str, torch.Tensor]) -> int:
        return len(batch["y"])

    def loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self.calls += 1
        if self.calls == self.crash_at_call:
            raise KeyboardInterrupt("simulated kill")
        error = model(batch["x"]).squeeze(-1) - batch["y"]
        return (error**2).sum(), {"abs_error": error.abs().sum()}


def model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, 1))


def export(model: nn.Module, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), directory / "weights.pt")


def evaluate(model: nn.Module) -> dict[str, float]:
    batch = collate(examples(16))
    return {"loss": float(((model(batch["x"]).squeeze(-1) - batch["y"]) ** 2).mean())}


def train(output: Path, objective: Regression | None = None, **loop: object) -> nn.Module:
    settings: dict[str, object] = {"batch_size": 8, "micro_batch_size": 8, "epochs": 3, **loop}
    net = model()
    fit(
        net,
        objective or Regression(),
        examples(),
        collate,
        loop=LoopConfig(**settings),  # type: ignore[arg-type]
        optim=OptimizerConfig(lr=3e-2, warmup_steps=2),
        output=output,
        export=export,
        evaluate=evaluate,
        config={"note": "toy"},
    )
    return net


def same_weights(a: nn.Module, b: nn.Module, atol: float = 0.0) -> bool:
    return all(
        torch.allclose(p, q, atol=atol, rtol=0)
        for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )


def test_loss_goes_down_and_files_are_written(tmp_path: Path) -> None:
    train(tmp_path, eval_every=6)
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == list(range(1, 19))  # 48 examples / 8 x 3 epochs
    assert rows[-1]["train/loss"] < rows[0]["train/loss"] / 4
    assert [r["step"] for r in rows if "eval/loss" in r] == [6, 12, 18]
    assert json.loads((tmp_path / "rlhf_config.json").read_text()) == {"note": "toy"}
    assert (tmp_path / "weights.pt").is_file()
    assert (tmp_path / "best" / "weights.pt").is_file()
    assert (tmp_path / "checkpoint" / "state.json").is_file()


def test_accumulation_equals_one_big_batch(tmp_path: Path) -> None:
    """Batch 8 in one pass == 4 micro-batches of 2 (dropout off: masks differ by batch shape)."""
    one = _train_without_dropout(tmp_path / "one", micro_batch_size=8)
    accumulated = _train_without_dropout(tmp_path / "acc", micro_batch_size=2)
    assert same_weights(one, accumulated, atol=1e-6)


def _train_without_dropout(output: Path, micro_batch_size: int) -> nn.Module:
    net = model()
    net[1].p = 0.0
    fit(
        net,
        Regression(),
        examples(),
        collate,
        loop=LoopConfig(batch_size=8, micro_batch_size=micro_batch_size, epochs=2, eval_every=0),
        optim=OptimizerConfig(lr=1e-2),
        output=output,
        export=export,
    )
    return net


def test_resume_after_a_crash_ends_with_the_same_weights(tmp_path: Path) -> None:
    uninterrupted = train(tmp_path / "a", eval_every=4, save_every=5)
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "b", Regression(crash_at_call=13), eval_every=4, save_every=5)
    assert json.loads((tmp_path / "b/checkpoint/state.json").read_text())["step"] == 10
    resumed = train(tmp_path / "b", eval_every=4, save_every=5)
    assert same_weights(uninterrupted, resumed)
    rows_a, rows_b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert [r["step"] for r in rows_b] == [r["step"] for r in rows_a]
    assert [r["train/loss"] for r in rows_b] == [r["train/loss"] for r in rows_a]


def test_batch_plan_covers_each_epoch_once_and_splits_processes() -> None:
    plan = BatchPlan(examples=20, batch_size=4, micro_batch_size=2, seed=3)
    seen = [
        i for step in range(plan.steps_per_epoch) for mb in plan.micro_batches(step) for i in mb
    ]
    assert sorted(seen) == list(range(20))
    ranks = [BatchPlan(20, 4, 1, 3, rank=r, world_size=2) for r in (0, 1)]
    for step in range(7):
        split = sorted(i for p in ranks for mb in p.micro_batches(step) for i in mb)
        assert split == sorted(i for mb in plan.micro_batches(step) for i in mb)


def test_batch_plan_groups_similar_sizes_within_a_step_only() -> None:
    sizes = [(7 * i) % 13 for i in range(24)]
    plain = BatchPlan(examples=24, batch_size=8, micro_batch_size=2, seed=3)
    grouped = BatchPlan(examples=24, batch_size=8, micro_batch_size=2, seed=3, sizes=sizes)
    for step in range(6):
        groups = grouped.micro_batches(step)
        flat = [i for mb in groups for i in mb]
        assert sorted(flat) == sorted(i for mb in plain.micro_batches(step) for i in mb)
        assert [sizes[i] for i in flat] == sorted(sizes[i] for i in flat)
        assert [len(mb) for mb in groups] == [2, 2, 2, 2]


def test_bad_settings_say_what_to_change(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a multiple"):
        train(tmp_path, batch_size=8, micro_batch_size=3)
    with pytest.raises(ConfigError, match=r"fewer than loop\.batch_size"):
        train(tmp_path, batch_size=64)
    with pytest.raises(ConfigError, match="best_metric"):
        train(tmp_path, best_metric="eval/accuracy")


def test_bf16_autocast_trains_on_cpu(tmp_path: Path) -> None:
    train(tmp_path, precision="bf16", eval_every=0)
    rows = read_metrics(tmp_path)
    assert rows[-1]["train/loss"] < rows[0]["train/loss"]


def test_tensorboard_events_are_written_when_asked(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    train(tmp_path, tensorboard=True, epochs=1)
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_wandb_without_its_package_says_how_to_install(tmp_path: Path) -> None:
    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here")
    with pytest.raises(MissingExtraError, match="pip install wandb"):
        train(tmp_path, wandb="my-project")
