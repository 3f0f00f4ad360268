"""Where training metrics go: `metrics.jsonl` always; TensorBoard and Weights & Biases on request.

Each line of `metrics.jsonl` is one JSON object: `{"step": 10, "train/loss": 0.69, ...}`. Metric
names are namespaced (`train/*`, `eval/*`, `optim/*`, `throughput/*`, `timing/*`). A resumed run
appends; lines for steps after the checkpoint it resumed from are dropped first, so the file reads
as one uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from types import TracebackType
from typing import Any

from rlhf.data.files import atomic_write_text
from rlhf.errors import UserError

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


class MissingExtraError(UserError):
    """An optional feature was asked for without its package installed."""


def read_metrics(output: Path) -> list[dict[str, Any]]:
    """The rows of `OUTPUT/metrics.jsonl` (empty when there is none); a line that is not a JSON
    object with an integer `step` is a `UserError` naming the file and line."""
    path = output / METRICS_FILE
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(
                f"{path}:{number}: not JSON ({error.msg}, column {error.colno})"
            ) from None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise UserError(
                f'{path}:{number}: expected an object with an integer step, like {{"step": 10, '
                f'"train/loss": 0.69}}; got {line[:80]}'
            )
        rows.append(row)
    return rows


class MetricsLogger:
    """Writes metric rows; only the main process should own one."""

    def __init__(
        self,
        output: Path,
        *,
        resume_step: int,
        tensorboard: bool = False,
        wandb_project: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self._tensorboard = _tensorboard_writer(output) if tensorboard else None
        self._wandb = _wandb_run(wandb_project, output, config) if wandb_project else None
        self.path = output / METRICS_FILE
        kept = [row for row in read_metrics(output) if row["step"] <= resume_step]
        atomic_write_text(self.path, "".join(json.dumps(row) + "\n" for row in kept))
        self._file = self.path.open("a")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        row = {"step": step, **{k: _finite_or_none(v) for k, v in metrics.items()}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._tensorboard is not None:
            for name, value in metrics.items():
                self._tensorboard.add_scalar(name, value, step)
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)

    def close(self) -> None:
        self._file.close()
        if self._tensorboard is not None:
            self._tensorboard.close()
        if self._wandb is not None:
            self._wandb.finish()

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity; they are written as null."""
    return value if math.isfinite(value) else None


def _tensorboard_writer(output: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:  # torch imports tensorboard lazily
        raise MissingExtraError(
            "--loop.tensorboard needs the tensorboard package: pip install 'rlhf[tensorboard]'"
        ) from error
    return SummaryWriter(log_dir=str(output / "tensorboard"))


def _wandb_run(project: str, output: Path, config: dict[str, Any] | None) -> Any:
    try:
        import wandb  # type: ignore[import-not-found]
    except ImportError as error:
        raise MissingExtraError(
            "--loop.wandb needs the wandb package: pip install wandb"
        ) from error
    return wandb.init(project=project, dir=str(output), config=config, resume="allow")
