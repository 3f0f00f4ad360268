"""`rlhf train ppo|grpo|rloo` and `rlhf sample` as a user runs them, on the demo's text task.

A tiny policy is trained from scratch by SFT on responses of mixed quality (polite or rude, right or
wrong, padded or not); the gold score of `rlhf.demo.task` is the reward, given as a Python file.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rlhf.demo.task import make_prompts, sample_response
from rlhf.train.metrics import read_metrics

GOLD = "from rlhf.demo.task import gold  # the demo task's gold score, given as a file\n"


def rlhf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rlhf", *args, "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("task")
    rng = random.Random(0)
    prompts = make_prompts(400, seed=0)
    demos = [{"prompt": p.text, "completion": sample_response(p, rng)} for p in prompts]
    (root / "demos.jsonl").write_text("".join(json.dumps(d) + "\n" for d in demos))
    (root / "prompts.jsonl").write_text(
        "".join(json.dumps({"prompt": p.text}) + "\n" for p in make_prompts(200, seed=1))
    )
    (root / "gold.py").write_text(GOLD)
    sft = rlhf(
        "train", "sft", "--data", str(root / "demos.jsonl"), "--output", str(root / "sft"),
        "--model", "tiny", "--tiny.hidden-size", "64", "--optim.lr", "3e-3",
        "--loop.batch-size", "32", "--loop.micro-batch-size", "32", "--loop.max-steps", "150",
        "--loop.eval-every", "0", "--no-loop.keep-best",
    )  # fmt: skip
    assert sft.returncode == 0, sft.stderr
    return {"root": root, "sft": root / "sft", "gold": root / "gold.py"}


def mean_gold(task: dict[str, Path], policy: Path, name: str) -> float:
    """The mean gold score of one greedy-free sample per held-out prompt, via `rlhf sample`."""
    result = rlhf(
        "sample", "--data", str(task["root"] / "prompts.jsonl"), "--model", str(policy),
        "--output", str(task["root"] / f"{name}.jsonl"), "--best-of", "1",
        "--reward.function", f"{task['gold']}:gold", "--sampling.max-new-tokens", "32",
        "--seed", "7", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["best_of"] == 1
    return float(summary["mean_reward_all"])


ONLINE = [
    "--data", "{prompts}", "--reward.function", "{gold}:gold", "--sampling.max-new-tokens", "32",
    "--optim.lr", "3e-4", "--optim.schedule", "constant", "--loop.batch-size", "16",
    "--loop.micro-batch-size", "16", "--loop.eval-every", "0",
]  # fmt: skip


def online_args(task: dict[str, Path]) -> list[str]:
    fill = {"prompts": str(task["root"] / "prompts.jsonl"), "gold": str(task["gold"])}
    return [arg.format(**fill) for arg in ONLINE]


@pytest.mark.slow
def test_ppo_raises_the_gold_reward_of_the_sft_policy_at_bounded_kl(
    task: dict[str, Path], tmp_path: Path
) -> None:
    output = tmp_path / "ppo"
    result = rlhf(
        "train", "ppo", *online_args(task), "--model", str(task["sft"]), "--output", str(output),
        "--loop.max-steps", "40", "--kl.coef", "0.05", "--critic", "separate",
        "--gold.function", f"{task['gold']}:gold", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = read_metrics(output)
    assert len(metrics) == 40
    before, after = mean_gold(task, task["sft"], "sft"), mean_gold(task, output, "ppo")
    print(f"gold reward: SFT {before:.3f} -> PPO {after:.3f}; KL {metrics[-1]['kl']:.2f} nats")
    assert after > before + 0.3, (before, after)  # a generous but real threshold
    assert metrics[-1]["kl"] < 10.0  # nats per response: the leash holds
    assert {"timing/generate", "timing/update", "value/explained_variance"} <= set(metrics[-1])
    # the gold monitor scores what the reward scored (here the same function), never optimized
    assert all(row["gold/score"] == row["reward/score"] for row in metrics)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["ppo", "grpo"])
def test_two_gloo_processes_train_one_policy(
    algorithm: str, task: dict[str, Path], tmp_path: Path, free_port: int
) -> None:
    output = tmp_path / algorithm
    extra = ["--group-size", "4", "--loop.batch-size", "8"] if algorithm == "grpo" else []
    result = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
            "--master-port", str(free_port), "-m", "rlhf", "train", algorithm,
            *online_args(task), *extra, "--model", str(task["sft"]), "--output", str(output),
            "--loop.max-steps", "3", "--loop.save-every", "3", "--quiet",
        ],
        capture_output=True, text=True, check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = read_metrics(output)
    assert [m["step"] for m in metrics] == [1, 2, 3]  # one writer: rank 0
    start, trained = (
        load_file(task["sft"] / "model.safetensors"),
        load_file(output / "model.safetensors"),
    )
    assert any(not torch.equal(start[n], trained[n]) for n in start)


def test_bad_input_stops_before_anything_is_written(task: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "fine"}\n{"prompt": 3}\n')
    output = tmp_path / "never"
    result = rlhf(
        "train", "grpo", "--data", str(bad), "--model", str(task["sft"]),
        "--output", str(output), "--reward.function", f"{task['gold']}:gold",
    )  # fmt: skip
    assert result.returncode == 1
    assert f"{bad}:2: prompt" in result.stderr
    assert not output.exists()
    no_reward = rlhf(
        "train", "ppo", "--data", str(task["root"] / "prompts.jsonl"), "--model", str(task["sft"]),
        "--output", str(output),
    )  # fmt: skip
    assert no_reward.returncode == 2  # a usage error, reported before anything loads
    assert "no reward source" in no_reward.stderr
