"""The real `rlhf quality ...` commands: exit codes, JSON summaries, files written or not.

Most tests call the command's entry point in this process (`rlhf.cli.main`), exactly as the
`rlhf` script does; one (slow) runs it as a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rlhf.cli import main
from rlhf.data import PreferencePair, load_records, write_records
from rlhf.quality.simulate import PLANTED, annotate, annotate_in_store, synthetic_items
from rlhf.store import Store

PANDALM = "pandalm-testset/testset-v1.json"


def rlhf(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, dict[str, Any], str]:
    """Run `rlhf ARGS --json --quiet`; returns (status, summary, human lines on stderr)."""
    status = main([*map(str, args), "--json", "--quiet"])
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    return status, summary, captured.err


@pytest.fixture(scope="module")
def annotations_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    items, gold = synthetic_items(150, seed=0)
    path = tmp_path_factory.mktemp("quality") / "annotations.jsonl"
    write_records(annotate(items, PLANTED, gold, seed=0), path)
    return path


def test_report_on_pandalm_reproduces_the_kappas(
    capsys: pytest.CaptureFixture[str], shared_data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "pandalm.html"
    status, summary, err = rlhf(
        capsys, "quality", "report", "--data", shared_data / PANDALM, "--output", output,
        "--resamples", "50",
    )  # fmt: skip
    assert status == 0
    assert summary["report"] == str(output)
    kappas = {pair: round(k, 3) for pair, k in summary["cohen_kappa"].items()}
    assert kappas == {
        "annotator1|annotator2": 0.852,
        "annotator1|annotator3": 0.879,
        "annotator2|annotator3": 0.862,
    }
    assert summary["fleiss_kappa"] == pytest.approx(0.8642, abs=1e-4)
    assert summary["krippendorff_alpha"] == pytest.approx(0.8642, abs=1e-4)
    assert summary["krippendorff_alpha_ordinal"] == pytest.approx(0.8775, abs=1e-4)
    low, high = (summary["intervals"]["fleiss_kappa"][k] for k in ("low", "high"))
    assert low < summary["fleiss_kappa"] < high
    assert set(summary["annotators"]["annotator1"]) >= {"position_bias", "fatigue", "spammer"}
    assert output.read_text().startswith("<!DOCTYPE html>")
    assert "Fleiss' kappa 0.864" in err


def test_report_from_a_store_equals_the_report_from_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    items, gold = synthetic_items(30, seed=1)
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    with Store.open(db) as store:
        annotate_in_store(store, items, PLANTED[:3], gold, seed=1)
    path = tmp_path / "same.jsonl"
    write_records(annotate(items, PLANTED[:3], gold, seed=1), path)
    runs = [
        rlhf(
            capsys,
            "quality",
            "report",
            *source,
            "--output",
            tmp_path / "r.html",
            "--resamples",
            "0",
        )
        for source in (("--db", db), ("--data", path))
    ]
    (status, from_store, _), (_, from_file, _) = runs
    assert status == 0
    assert from_store["judgments"] == 90
    for key in ("cohen_kappa", "fleiss_kappa", "krippendorff_alpha", "consensus"):
        assert from_store[key] == from_file[key]


@pytest.mark.slow
def test_report_from_a_store_finds_the_planted_annotators(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    items, gold = synthetic_items(300, seed=0)
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    with Store.open(db) as store:
        annotate_in_store(store, items, PLANTED, gold, seed=0)
    status, summary, err = rlhf(
        capsys, "quality", "report", "--db", db, "--output", tmp_path / "r.html", "--resamples", "0"
    )
    assert status == 0
    flags = {name: a["flags"] for name, a in summary["annotators"].items()}
    assert flags["lefty"] == ["position_bias"]
    assert flags["tired"] == ["fatigue"]
    assert flags["spammer"] == ["too_fast", "spammer"]
    assert "lefty: position_bias" in err


@pytest.mark.parametrize("method", ["majority", "dawid-skene", "crowd-bt"])
def test_aggregate_writes_pairs_with_confidence(
    capsys: pytest.CaptureFixture[str], annotations_file: Path, tmp_path: Path, method: str
) -> None:
    out = tmp_path / "pairs.jsonl.gz"
    status, summary, _ = rlhf(
        capsys, "quality", "aggregate", "--data", annotations_file, "--method", method, "--out", out
    )
    assert status == 0
    pairs = load_records(out)
    assert len(pairs) == summary["pairs"] == 150 - summary["dropped"]
    assert all(isinstance(p, PreferencePair) for p in pairs)
    for pair in pairs:
        assert isinstance(pair, PreferencePair)
        assert pair.confidence is not None
        assert 0.0 <= pair.confidence <= 1.0
        assert pair.metadata["quality"]["method"] == method
    assert summary["ties"] == sum(p.tie for p in pairs if isinstance(p, PreferencePair))


def test_aggregate_to_trl_keeps_the_confidence_column(
    capsys: pytest.CaptureFixture[str], annotations_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pairs.trl.jsonl"
    status, _, _ = rlhf(
        capsys, "quality", "aggregate", "--data", annotations_file, "--out", out, "--to", "trl"
    )
    assert status == 0
    first = json.loads(out.read_text().splitlines()[0])
    assert {"prompt", "chosen", "rejected", "confidence", "quality"} <= set(first)


def test_bad_lines_are_listed_and_nothing_is_written(
    capsys: pytest.CaptureFixture[str], annotations_file: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    lines = annotations_file.read_text().splitlines()[:5]
    lines[2] = lines[2].replace('"judgment": "', '"judgment": "x')
    bad.write_text("\n".join([*lines, "{not json"]) + "\n")
    out = tmp_path / "pairs.jsonl"
    status, summary, err = rlhf(capsys, "quality", "aggregate", "--data", bad, "--out", out)
    assert status == 1
    assert summary["ok"] is False
    assert f"{bad}:3: judgment: unknown judgment" in err
    assert f"{bad}:6: json:" in err
    assert not out.exists()
    assert list(tmp_path.glob(".pairs*")) == []


def test_duplicate_judgment_names_its_line(
    capsys: pytest.CaptureFixture[str], annotations_file: Path, tmp_path: Path
) -> None:
    twice = tmp_path / "twice.jsonl"
    first = json.loads(annotations_file.read_text().splitlines()[0])
    second = {**first, "judgment": "b" if first["judgment"] == "a" else "a"}
    twice.write_text(f"{json.dumps(first)}\n{json.dumps(second)}\n")
    output = tmp_path / "r.html"
    status, summary, _ = rlhf(capsys, "quality", "report", "--data", twice, "--output", output)
    assert status == 1
    assert f"{twice}:2: annotator" in summary["error"]
    assert not output.exists()


def test_pairs_are_not_annotations(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    write_records([PreferencePair(prompt="p", chosen="x", rejected="y")], pairs)
    status, summary, _ = rlhf(capsys, "quality", "report", "--data", pairs)
    assert status == 1
    assert "quality needs annotations" in summary["error"]


def test_a_missing_store_is_not_created(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "nothing.db"
    status, summary, _ = rlhf(capsys, "quality", "report", "--db", str(db))
    assert status == 1
    assert "no such database file" in summary["error"]
    assert not db.exists()


def test_exactly_one_source_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for args in ([], ["--db", "a.db", "--data", "b.jsonl"]):
        with pytest.raises(SystemExit) as exit_:
            main(["quality", "report", *args])
        assert exit_.value.code == 2
    assert "exactly one of --db URL or --data FILE" in capsys.readouterr().err


@pytest.mark.slow
def test_the_installed_command_runs(annotations_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "rlhf", "quality", "aggregate", "--data", str(annotations_file),
         "--out", str(out), "--method", "majority", "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["pairs"] == len(load_records(out))
