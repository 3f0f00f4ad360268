"""The real `rlhf train reward` on a file with ties: the fitted Davidson nu in the output, the
metrics and the card, and `rlhf reward eval` reading it back."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from rlhf.cli import main
from rlhf.data import write_records
from rlhf.demo.task import gold_pairs, make_prompts
from rlhf.train.metrics import read_metrics


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


def last_json(result: Result) -> dict[str, object]:
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 demo pairs ordered by the gold score; equal scores are ties (26 of them)."""
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    records = gold_pairs(make_prompts(200, seed=1), seed=1)
    assert sum(r.tie for r in records) == 26
    write_records(records, path)
    return path


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
    output = tmp_path / "tiny"
    result = rlhf(
        "train",
        "reward",
        "--data",
        pairs,
        "--backbone",
        "tiny",
        "--max-length",
        "48",
        "--output",
        output,
        "--loop.max-steps",
        "4",
        "--loop.batch-size",
        "8",
        "--loss.tie-nu-lr",
        "0.05",
        "--cache-dir",
        tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr
    logged = [row["train/reward/tie_nu"] for row in read_metrics(output)]
    assert logged[0] == 1.0  # the start, --loss.tie-nu
    assert logged[-1] < logged[1] < 1.0  # 13% ties: fewer than nu = 1 predicts, so nu falls
    saved = json.loads((output / "reward_model.json").read_text())["tie_nu"]
    assert "Davidson tie parameter nu" in result.stdout
    assert f"{saved[0]:.4g} fitted" in result.stdout
