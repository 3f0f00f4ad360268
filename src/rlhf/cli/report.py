"""`rlhf report RUN_DIR`: one self-contained HTML page of a run's figures, curves and evals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rlhf.cli.arguments import positional
from rlhf.cli.base import Command, Output, Summary
from rlhf.eval.report import save_report
from rlhf.eval.rundir import read_run_dir


@dataclass(frozen=True, kw_only=True)
class RunReportConfig:
    run_dir: Path = positional()
    """The run directory; searched recursively for summary.json, metrics.jsonl (with config.json),
    eval.json or *.eval.json, and quality.json or *.quality.json."""
    output: Path | None = None
    """The HTML file to write; default RUN_DIR/report.html."""


def run_report(config: RunReportConfig, out: Output) -> Summary:
    contents = read_run_dir(config.run_dir)
    path = save_report(contents, config.output)
    out.line(
        f"found: training runs {len(contents.runs)}, evaluations {len(contents.evals)}, "
        f"annotator-quality summaries {len(contents.quality)}, run summary "
        + ("yes" if contents.summary is not None else "no")
    )
    out.line(f"report written to {path}")
    return {
        "ok": True,
        "report": str(path),
        "summary": contents.summary is not None,
        "runs": len(contents.runs),
        "evals": len(contents.evals),
        "quality": len(contents.quality),
    }


COMMANDS = (
    Command(
        "report",
        "a self-contained HTML report of a run directory: headline figures, training curves, "
        "reward against KL, win rates, samples and annotator quality",
        RunReportConfig,
        run_report,
    ),
)
