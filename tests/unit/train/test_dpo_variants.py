"""Every loss of the DPO family trains through `train_dpo`: finite loss, moved weights, files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import get_args

import pytest
import torch
from safetensors.torch import load_file

from rlhf.train import LoopConfig, OptimizerConfig
from rlhf.train.dpo import REFERENCE_FILE, DPOConfig, LossName, train_dpo
from rlhf.train.metrics import read_metrics


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    rows = [
        {"prompt": f"What is {a} plus 2?", "chosen": f" Sure: {a + 2}.", "rejected": " Go away."}
        for a in range(24)
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("loss", get_args(LossName))
def test_each_loss_trains(loss: str, pairs: Path, saved_lm: Path, tmp_path: Path) -> None:
    config = DPOConfig(
        data=str(pairs),
        model=str(saved_lm),
        output=tmp_path / "out",
        loss=loss,  # type: ignore[arg-type]
        beta=2.0 if loss == "simpo" else 0.1,
        rpo_alpha=0.5 if loss == "sigmoid" else 0.0,
        eval_fraction=0.2,
        optim=OptimizerConfig(lr=1e-3),
        loop=LoopConfig(batch_size=4, micro_batch_size=2, max_steps=3, eval_every=0),
    )
    result = train_dpo(config, {"loss": loss})
    rows = read_metrics(config.output)
    assert result.steps == len(rows) == 3
    assert all(math.isfinite(r["train/loss"]) for r in rows)
    before, after = (
        load_file(saved_lm / "model.safetensors"),
        load_file(config.output / "model.safetensors"),
    )
    assert any(not torch.equal(before[name], after[name]) for name in before)
    assert (config.output / REFERENCE_FILE).is_file() == (loss != "simpo")
