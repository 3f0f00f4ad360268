"""SFT through `train_sft`: token-weighted accumulation is exact, packing trains, data is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rlhf.data import InvalidDataError
from rlhf.train import LoopConfig, OptimizerConfig
from rlhf.train.metrics import read_metrics
from rlhf.train.sft import SFTConfig, train_sft


@pytest.fixture
def demos(tmp_path: Path) -> Path:
    # completions of very different lengths: a per-micro-batch mean would weight tokens unequally
    rows = [
        {"prompt": f"Count to {n}.", "completion": " " + " ".join(str(i) for i in range(n))}
        for n in range(1, 33)
    ]
    path = tmp_path / "demos.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def sft(
    demos: Path, model: Path, output: Path, *, micro_batch_size: int, packing: bool = False
) -> Path:
    config = SFTConfig(
        data=str(demos),
        model=str(model),
        output=output,
        packing=packing,
        eval_fraction=0.0,
        optim=OptimizerConfig(lr=1e-3),
        loop=LoopConfig(
            batch_size=4 if packing else 8,
            micro_batch_size=micro_batch_size,
            max_steps=4,
            eval_every=0,
        ),
    )
    train_sft(config, {})
    return output


def test_batch_8_equals_4_accumulated_micro_batches_of_2(
    demos: Path, saved_lm: Path, tmp_path: Path
) -> None:
    whole = load_file(
        sft(demos, saved_lm, tmp_path / "a", micro_batch_size=8) / "model.safetensors"
    )
    accumulated = load_file(
        sft(demos, saved_lm, tmp_path / "b", micro_batch_size=2) / "model.safetensors"
    )
    for name in whole:
        torch.testing.assert_close(whole[name], accumulated[name], atol=2e-6, rtol=1e-5)
    losses = [r["train/loss"] for r in read_metrics(tmp_path / "a")]
    assert losses == pytest.approx(
        [r["train/loss"] for r in read_metrics(tmp_path / "b")], abs=1e-5
    )


def test_packing_trains_on_fewer_rows(demos: Path, saved_lm: Path, tmp_path: Path) -> None:
    output = sft(demos, saved_lm, tmp_path / "packed", micro_batch_size=4, packing=True)
    rows = read_metrics(output)
    assert len(rows) == 4
    assert rows[-1]["train/loss"] < rows[0]["train/loss"]


def test_rankings_are_not_demonstrations(tmp_path: Path, saved_lm: Path) -> None:
    path = tmp_path / "ranking.jsonl"
    path.write_text(json.dumps({"prompt": "p", "responses": ["a", "b"], "ranks": [1, 2]}) + "\n")
    with pytest.raises(ValueError, match="demonstrations or preference pairs"):
        sft(path, saved_lm, tmp_path / "out", micro_batch_size=2)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "completion": 3}\n')
    with pytest.raises(InvalidDataError, match=r"bad\.jsonl:1: completion"):
        sft(bad, saved_lm, tmp_path / "out", micro_batch_size=2)
