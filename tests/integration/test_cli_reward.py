"""The real `rlhf train reward`, `rlhf reward score` and `rlhf reward eval`: exit codes, output.

One test runs the command as a subprocess, as a user does; the others call the same entry point
in-process (`rlhf.cli.main`), which saves a torch import per command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rlhf.cli import main
from rlhf.data import Ranking, write_records
from rlhf.demo.task import gold_pairs, make_prompts
from rlhf.train.metrics import read_metrics

RLHF = [sys.executable, "-m", "rlhf"]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def rlhf(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `rlhf ARGS` in this process; its exit status and what it printed."""

    def run(*args: str | Path) -> Result:
        capsys.readouterr()
        status = main([*map(str, args), "--quiet"])
        out, err = capsys.readouterr()
        return Result(status, out, err)

    return run


def last_json(result: Result | subprocess.CompletedProcess[str]) -> dict[str, object]:
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 demo pairs ordered by the gold score; equal scores are ties (26 of them)."""
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    records = gold_pairs(make_prompts(200, seed=1), seed=1)
    assert sum(r.tie for r in records) == 26
    write_records(records, path)
    return path


@pytest.fixture(scope="module")
def model(pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A features model with 3 heads, trained by the real command in a subprocess."""
    output = tmp_path_factory.mktemp("runs") / "features"
    result = subprocess.run(
        [
            *RLHF,
            "train",
            "reward",
            "--data",
            str(pairs),
            "--kind",
            "features",
            "--ensemble",
            "3",
            "--output",
            str(output),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = last_json(result)
    assert summary["ok"] is True
    return output


def train_tiny(
    rlhf: Callable[..., Result], pairs: Path, tmp_path: Path, *extra: object
) -> tuple[Result, Path]:
    """`rlhf train reward` on a tiny transformer for 4 steps of 8 pairs: (result, output dir)."""
    output = tmp_path / "tiny"
    result = rlhf("train", "reward", "--data", pairs, "--backbone", "tiny", "--output", output,
                  "--max-length", "48", "--loop.max-steps", "4", "--loop.batch-size", "8",
                  "--cache-dir", tmp_path / "cache", *extra)  # fmt: skip
    return result, output


def test_train_reward_tiny_transformer_then_eval(
    pairs: Path, tmp_path: Path, rlhf: Callable[..., Result]
) -> None:
    result, output = train_tiny(rlhf, pairs, tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    summary = last_json(result)
    assert summary["steps"] == 4
    held_out = summary["eval"]
    assert isinstance(held_out, dict)
    assert {"accuracy", "ece", "pairs"} <= set(held_out)
    assert (output / "rlhf_config.json").is_file()
    assert (output / "metrics.jsonl").is_file()
    evaluated = rlhf("reward", "eval", "--model", output, "--data", pairs, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert list(last_json(evaluated))[:3] == ["accuracy", "pairs", "ece"]


def test_score_writes_one_line_per_record_with_the_ensemble_spread(
    model: Path, pairs: Path, tmp_path: Path, rlhf: Callable[..., Result]
) -> None:
    out = tmp_path / "scores.jsonl"
    result = rlhf("reward", "score", "--model", model, "--data", pairs, "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 200
    assert all(len(r["rewards"]) == 2 and len(r["std"]) == 2 for r in rows)
    assert last_json(result)["responses"] == 400


def test_eval_on_held_out_prompts_prints_accuracy_pairs_ece_last(
    model: Path, pairs: Path, rlhf: Callable[..., Result]
) -> None:
    result = rlhf(
        "reward", "eval", "--model", model, "--data", pairs, "--held-out", "0.1", "--json"
    )
    assert result.returncode == 0, result.stderr
    summary = last_json(result)
    assert list(summary)[:3] == ["accuracy", "pairs", "ece"]
    assert 0.0 <= float(summary["accuracy"]) <= 1.0  # type: ignore[arg-type]
    assert 0 < float(summary["pairs"]) < 40  # type: ignore[arg-type]
    # a handful of held-out pairs says little; over the whole file the model must order most
    everything = last_json(rlhf("reward", "eval", "--model", model, "--data", pairs, "--json"))
    assert float(everything["pairs"]) > 100  # type: ignore[arg-type]
    assert float(everything["accuracy"]) > 0.65  # type: ignore[arg-type]


def test_eval_scores_rankings_in_one_pass(
    model: Path, tmp_path: Path, rlhf: Callable[..., Result]
) -> None:
    rankings = tmp_path / "rankings.jsonl"
    write_records(
        [
            Ranking(
                prompt="What is 2 plus 3?",
                responses=(
                    "The answer is 5.",
                    "Ugh, obviously The answer is 6.",
                    "The answer is 6.",
                ),
                ranks=(1, 3, 2),
            )
        ],
        rankings,
    )
    result = rlhf("reward", "eval", "--model", model, "--data", rankings, "--json")
    assert result.returncode == 0, result.stderr
    assert last_json(result)["pairs"] == 3


def test_invalid_data_stops_training_with_the_report(
    tmp_path: Path, rlhf: Callable[..., Result]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "same", "rejected": "same"}\n')
    result = rlhf(
        "train", "reward", "--data", bad, "--kind", "features", "--output", tmp_path / "out"
    )
    assert result.returncode == 1
    assert "bad.jsonl:1" in result.stderr
    assert not (tmp_path / "out").exists()


def test_missing_backbone_and_missing_model_say_so(
    pairs: Path, tmp_path: Path, rlhf: Callable[..., Result]
) -> None:
    result = rlhf(
        "train",
        "reward",
        "--data",
        pairs,
        "--backbone",
        tmp_path / "nope",
        "--output",
        tmp_path / "o",
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    result = rlhf("reward", "score", "--model", tmp_path / "nope", "--data", pairs)
    assert result.returncode == 1
    assert "does not exist" in result.stderr


TINY = [
    "--backbone",
    "tiny",
    "--max-length",
    "48",
    "--loop.batch-size",
    "8",
    "--loop.micro-batch-size",
    "4",
    "--optim.lr",
    "1e-3",
    "--no-loop.keep-best",
]


def head_weights(output: Path) -> dict[str, torch.Tensor]:
    return {
        **load_file(output / "model.safetensors"),
        **load_file(output / "reward_head.safetensors"),
    }


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_reward_model(pairs: Path, tmp_path: Path) -> None:
    args = [
        "train",
        "reward",
        "--data",
        str(pairs),
        *TINY,
        "--cache-dir",
        str(tmp_path / "c"),
        "--loop.max-steps",
        "30",
        "--loop.save-every",
        "5",
        "--loop.eval-every",
        "10",
    ]
    whole = subprocess.run([*RLHF, *args, "--output", str(tmp_path / "whole")], check=False)
    assert whole.returncode == 0
    output = tmp_path / "killed"
    process = subprocess.Popen([*RLHF, *args, "--output", str(output), "--quiet"])
    state = output / "checkpoint" / "state.json"
    while not (state.is_file() and json.loads(state.read_text())["step"] >= 10):
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (output / "reward_model.json").exists()
    resumed = subprocess.run([*RLHF, *args, "--output", str(output), "--quiet"], check=False)
    assert resumed.returncode == 0
    a, b = head_weights(tmp_path / "whole"), head_weights(output)
    assert all(torch.equal(a[name], b[name]) for name in a)
    losses = [[r["train/loss"] for r in read_metrics(d)] for d in (tmp_path / "whole", output)]
    assert losses[0] == losses[1]


@pytest.mark.slow
def test_two_ddp_processes_equal_one_reward_model(
    pairs: Path, tmp_path: Path, free_port: int
) -> None:
    args = [
        "train",
        "reward",
        "--data",
        str(pairs),
        *TINY,
        "--cache-dir",
        str(tmp_path / "c"),
        "--loop.max-steps",
        "8",
        "--loop.eval-every",
        "0",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([*RLHF, *args, "--output", str(tmp_path / "one")], check=False, env=env)
    assert one.returncode == 0
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(free_port),
        "-m",
        "rlhf",
    ]
    two = subprocess.run(
        [*launcher, *args, "--output", str(tmp_path / "two"), "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert two.returncode == 0, two.stderr
    losses = [[r["train/loss"] for r in read_metrics(tmp_path / d)] for d in ("one", "two")]
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    a, b = head_weights(tmp_path / "one"), head_weights(tmp_path / "two")
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-5, rtol=1e-4)


# Davidson's tie parameter: fitted, reported, stored, and read back by `rlhf reward eval`


def test_features_model_fits_nu_and_eval_reports_it(
    pairs: Path, tmp_path: Path, rlhf: Callable[..., Result]
) -> None:
    output = tmp_path / "features"
    args = ("train", "reward", "--data", pairs, "--kind", "features", "--output", output)
    result = rlhf(*args, "--json")
    assert result.returncode == 0, result.stderr
    fitted = last_json(result)["tie_nu"]
    assert isinstance(fitted, list)
    nu = float(fitted[0])
    assert 0.1 < nu < 1.0  # 13% ties: far fewer than nu = 1 (the start) predicts
    assert f"Davidson tie parameter nu {nu:.4g} fitted" in result.stderr
    assert read_metrics(output)[-1]["train/reward/tie_nu"] == pytest.approx(nu)
    assert json.loads((output / "reward_model.json").read_text())["tie_nu"] == [nu]
    evaluated = rlhf("reward", "eval", "--model", output, "--data", pairs, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = last_json(evaluated)
    assert report["tie_nu"] == nu
    assert report["tie_probability_equal"] == pytest.approx(nu / (2 + nu))
    assert "tie_nu" in evaluated.stderr
    fixed = rlhf(*args, "--no-loss.learn-tie-nu", "--loss.tie-nu", "0.5", "--json")
    assert fixed.returncode == 0, fixed.stderr
    assert last_json(fixed)["tie_nu"] == [0.5]
    assert "Davidson tie parameter nu 0.5 fixed" in fixed.stderr


def test_each_ensemble_head_keeps_its_own_nu(
    pairs: Path, tmp_path: Path, rlhf: Callable[..., Result]
) -> None:
    output = tmp_path / "ensemble"
    args = ("--kind", "features", "--ensemble", "3", "--output", output, "--json")
    result = rlhf("train", "reward", "--data", pairs, *args)
    assert result.returncode == 0, result.stderr
    per_head = last_json(result)["tie_nu"]
    assert isinstance(per_head, list)
    assert len(set(per_head)) == 3  # each head's bootstrap resample has its own ties
    assert "per member" in result.stderr
    evaluated = rlhf("reward", "eval", "--model", output, "--data", pairs, "--json")
    assert last_json(evaluated)["tie_nu"] == pytest.approx(sum(per_head) / 3)


def test_tiny_transformer_logs_nu_every_step(
    pairs: Path, tmp_path: Path, rlhf: Callable[..., Result]
) -> None:
    result, output = train_tiny(rlhf, pairs, tmp_path, "--loss.tie-nu-lr", "0.05")
    assert result.returncode == 0, result.stderr
    logged = [row["train/reward/tie_nu"] for row in read_metrics(output)]
    assert logged[0] == 1.0  # the start, --loss.tie-nu
    assert logged[-1] < logged[1] < 1.0  # 13% ties: fewer than nu = 1 predicts, so nu falls
    saved = json.loads((output / "reward_model.json").read_text())["tie_nu"]
    assert "Davidson tie parameter nu" in result.stdout
    assert f"{saved[0]:.4g} fitted" in result.stdout
