"""What `rlhf report` reads from a run directory, found anywhere under it and checked.

Every kind is optional; files are taken in order of their path relative to RUN_DIR:

- `summary.json` at RUN_DIR's root (written by `rlhf demo`): `{"title": str, "figures": {NAME:
  {"value": number | null, "source": str}}, "timings": {PHASE: seconds}, "rounds": [{...}, ...]}`,
  every key optional, other keys ignored.
- `metrics.jsonl`: one training run each (`rlhf.train.metrics`), named by its directory relative
  to RUN_DIR; a `config.json` beside it is the run's resolved config.
- `eval.json` or `*.eval.json`: what `rlhf eval --output FILE` writes (`EvalResult.as_json`).
- `quality.json` or `*.quality.json`: `QualityAnalysis.summary()` (`rlhf quality report --json`).

A file that is not valid JSON, or not the shape its name promises, is a `UserError` naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlhf.errors import UserError
from rlhf.train.metrics import METRICS_FILE, read_metrics

__all__ = ["LOOKS_FOR", "Document", "RunContents", "TrainingRun", "read_json", "read_run_dir"]

SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.json"
EVAL_FILE = "eval.json"
QUALITY_FILE = "quality.json"
LOOKS_FOR = (
    f"{SUMMARY_FILE} (rlhf demo), {METRICS_FILE} (training runs), {EVAL_FILE} or *.{EVAL_FILE} "
    f"(rlhf eval --output FILE), {QUALITY_FILE} or *.{QUALITY_FILE} (rlhf quality report --json)"
)
"""The files `rlhf report` looks for, in words (for the error when it finds none)."""
EVAL_KEYS = ("win_rate", "win_rate_ci_low", "win_rate_ci_high", "wins", "ties", "losses",
             "policy", "baseline")  # fmt: skip
QUALITY_KEYS = ("items", "judgments", "intervals", "annotators", "consensus")
SUMMARY_SHAPES: dict[str, type] = {"title": str, "figures": dict, "timings": dict, "rounds": list}


@dataclass(frozen=True)
class TrainingRun:
    """One `metrics.jsonl`: the run's name, its rows, and its resolved config when saved."""

    name: str
    rows: list[dict[str, Any]]
    config: dict[str, Any] | None


@dataclass(frozen=True)
class Document:
    """One JSON summary (an eval or a quality analysis) under its path relative to RUN_DIR."""

    name: str
    data: dict[str, Any]


@dataclass(frozen=True)
class RunContents:
    """Everything reportable found under a run directory."""

    root: Path
    summary: dict[str, Any] | None
    runs: tuple[TrainingRun, ...]
    evals: tuple[Document, ...]
    quality: tuple[Document, ...]

    @property
    def empty(self) -> bool:
        return self.summary is None and not (self.runs or self.evals or self.quality)


def read_json(path: Path) -> Any:
    """The JSON value in `path`; a `UserError` naming the file and line when it is not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(
            f"{path}:{error.lineno}: not valid JSON ({error.msg}, column {error.colno})"
        ) from None
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text ({error.reason})") from None


def _object(path: Path, required: tuple[str, ...], what: str) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise UserError(
            f"{path}: not {what}: expected a JSON object, found a {type(data).__name__}"
        )
    missing = [key for key in required if key not in data]
    if missing:
        raise UserError(f"{path}: not {what}: missing {', '.join(missing)}")
    return data


def _summary(path: Path) -> dict[str, Any]:
    data = _object(path, (), "a run summary")
    for key, shape in SUMMARY_SHAPES.items():
        if key in data and not isinstance(data[key], shape):
            raise UserError(f"{path}: {key} should be a JSON {shape.__name__}")
    figures = data.get("figures", {})
    if not all(isinstance(f, dict) for f in figures.values()):
        raise UserError(f'{path}: each figure should be {{"value": number, "source": text}}')
    if not all(isinstance(r, dict) for r in data.get("rounds", [])):
        raise UserError(f"{path}: rounds should be a list of objects (one per round)")
    return data


def _eval(path: Path) -> dict[str, Any]:
    data = _object(path, EVAL_KEYS, "an rlhf eval --output summary")
    for side in ("policy", "baseline"):
        if not isinstance(data[side], dict) or not isinstance(data[side].get("samples", []), list):
            raise UserError(f"{path}: {side} should be an object with a list of samples")
    return data


def _name(path: Path, root: Path) -> str:
    relative = path.relative_to(root).as_posix()
    return root.resolve().name if relative == "." else relative


def _run(metrics: Path, root: Path) -> TrainingRun:
    directory = metrics.parent
    config = directory / CONFIG_FILE
    return TrainingRun(
        name=_name(directory, root),
        rows=read_metrics(directory),
        config=_object(config, (), "a resolved config") if config.is_file() else None,
    )


def _named(files: list[Path], name: str) -> list[Path]:
    return [f for f in files if f.name == name or f.name.endswith("." + name)]


def read_run_dir(run_dir: Path) -> RunContents:
    """Everything `rlhf report` shows, read from `run_dir`; a `UserError` when there is none."""
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such directory; give a run directory, e.g. runs/demo")
    files = sorted(
        (p for p in run_dir.rglob("*") if p.is_file()),
        key=lambda p: p.relative_to(run_dir).parts,
    )
    summary = run_dir / SUMMARY_FILE
    contents = RunContents(
        root=run_dir,
        summary=_summary(summary) if summary.is_file() else None,
        runs=tuple(_run(f, run_dir) for f in files if f.name == METRICS_FILE),
        evals=tuple(Document(_name(f, run_dir), _eval(f)) for f in _named(files, EVAL_FILE)),
        quality=tuple(
            Document(_name(f, run_dir), _object(f, QUALITY_KEYS, "a quality summary"))
            for f in _named(files, QUALITY_FILE)
        ),
    )
    if contents.empty:
        raise UserError(f"{run_dir}: nothing to report; rlhf report looks for {LOOKS_FOR}")
    return contents
