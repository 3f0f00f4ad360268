"""`rlhf report RUN_DIR`: one self-contained HTML page of everything a run directory holds.

The headline figures of `rlhf demo` with where each came from, the checks it must pass, phase
timings and rounds; every
training run's curves and its reward-vs-KL curve; every evaluation's win rate with its interval and
the samples before and after; every annotator-quality summary. What is read, and from which files,
is `rlhf.eval.rundir`. Charts are inline PNG, styles inline, no scripts and no external URLs; every
string from the files is escaped. `render_report` is pure; `write_report` reads and writes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from html import escape
from itertools import zip_longest
from pathlib import Path
from typing import Any

from rlhf.data.files import atomic_write_text
from rlhf.eval import plots
from rlhf.eval.rundir import Document, RunContents, TrainingRun, read_run_dir
from rlhf.quality import report as quality
from rlhf.quality.plots import bias_chart
from rlhf.reporting import image, interval, number, page, table

__all__ = ["REPORT_FILE", "SECTIONS", "render_report", "save_report", "write_report"]

REPORT_FILE = "report.html"
"""Where the report goes by default: RUN_DIR/report.html."""

STYLE = """
nav ul { columns: 2; }
td.num { white-space: nowrap; }
.wide { overflow-x: auto; }
section { margin-bottom: 2.5em; }
.samples td { white-space: pre-wrap; max-width: 28em; }
details pre { white-space: pre-wrap; font-size: 0.85em; background: #f7f7f7; padding: 0.5em; }
"""


def cell(value: Any) -> str:
    """A value from a JSON file as table text: numbers to 4 significant digits, None and nan as
    "n/a", lists and objects as JSON."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _records_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A table of a list of objects: columns are the union of their keys, first seen first."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    numeric = {
        i
        for i, column in enumerate(columns)
        if all(isinstance(row.get(column), int | float | None) for row in rows)
    }
    body = [[cell(row[c]) if c in row else "" for c in columns] for row in rows]
    return table(columns, body, numeric)


def _summary_section(contents: RunContents) -> str:
    summary = contents.summary or {}
    parts = []
    if figures := summary.get("figures"):
        rows = [
            (name, cell(f.get("value")), cell(f.get("source", ""))) for name, f in figures.items()
        ]
        parts.append("<h3>Headline figures</h3>" + table(["figure", "value", "source"], rows, {1}))
    if checks := summary.get("checks"):
        held = [(statement, "yes" if ok else "NO") for statement, ok in checks.items()]
        parts.append("<h3>Checks</h3>" + table(["what the run must show", "shown"], held, set()))
    if timings := summary.get("timings"):
        chart = plots.timings_chart(timings)
        seconds = [(phase, cell(value)) for phase, value in timings.items()]
        parts.append(
            "<h3>Time per phase</h3>" + (image(chart, "seconds per phase") if chart else "")
        )
        parts.append(table(["phase", "seconds"], seconds, {1}))
    if rounds := summary.get("rounds"):
        parts.append('<h3>Rounds</h3><div class="wide">' + _records_table(rounds) + "</div>")
    return "".join(parts)


def _run_html(run: TrainingRun) -> str:
    head = f"<h3>{escape(run.name)}</h3>"
    if not run.rows:
        return head + '<p class="note">metrics.jsonl holds no rows yet.</p>'
    steps = [row["step"] for row in run.rows]
    parts = [head, f"<p>{len(run.rows)} rows logged, steps {min(steps)} to {max(steps)}.</p>"]
    if curves := plots.metric_panels(run.rows):
        parts.append(image(curves, f"training curves of {run.name}"))
    if kl_chart := plots.reward_kl_chart(run.rows):
        parts.append(image(kl_chart, f"reward against KL of {run.name}"))
    last = []
    for _, columns in plots.panel_columns(run.rows):
        for column in columns:
            at, values = plots.series(run.rows, column)
            last.append((column, cell(values[-1]), str(at[-1])))
    if last:
        parts.append(table(["metric", "last value", "at step"], last, {1, 2}))
    if run.config is not None:
        config = escape(json.dumps(run.config, indent=2, ensure_ascii=False))
        parts.append(f"<details><summary>Resolved config</summary><pre>{config}</pre></details>")
    return "".join(parts)


def _training_section(contents: RunContents) -> str:
    return "".join(_run_html(run) for run in contents.runs)


def _interval_kind(e: Mapping[str, Any]) -> str:
    confidence = e.get("confidence")
    level = f"{confidence:.0%} " if isinstance(confidence, float) else ""
    return f"{level}{e.get('interval', '')}".strip() or "n/a"


def _eval_row(name: str, e: Mapping[str, Any]) -> list[str]:
    return [
        name,
        cell(e["policy"].get("model")),
        cell(e["baseline"].get("model")),
        number(e["win_rate"]),
        interval(e["win_rate_ci_low"], e["win_rate_ci_high"]),
        _interval_kind(e),
        f"{e['wins']} / {e['ties']} / {e['losses']}",
        cell(e.get("comparisons")),
        number(e.get("rm_judge_agreement")),
    ]


def _side_rows(name: str, e: Mapping[str, Any]) -> list[list[str]]:
    return [
        [name, side, cell(s.get("model")), number(s.get("judge_mean")), number(s.get("reward_mean")),
         number(s.get("length_mean"), 1), number(s.get("distinct_1")), number(s.get("distinct_2"))]
        for side, s in (("policy", e["policy"]), ("baseline", e["baseline"]))
    ]  # fmt: skip


def _evals_section(contents: RunContents) -> str:
    evals = [(doc.name, doc.data) for doc in contents.evals]
    if not evals:
        return ""
    chart = plots.win_rate_chart(
        [name for name, _ in evals],
        [e["win_rate"] for _, e in evals],
        [(e["win_rate_ci_low"], e["win_rate_ci_high"]) for _, e in evals],
    )
    header = ["eval", "policy", "baseline", "win rate", "interval", "interval kind",
              "wins / ties / losses", "comparisons", "reward model agrees with judge"]  # fmt: skip
    sides = ["eval", "side", "model", "judge mean", "reward model mean", "length (tokens)",
             "distinct-1", "distinct-2"]  # fmt: skip
    return (
        image(chart, "win rates with their intervals")
        + table(header, [_eval_row(name, e) for name, e in evals], {3, 4, 7, 8})
        + table(sides, [row for name, e in evals for row in _side_rows(name, e)], range(3, 8))
    )


def _samples_html(doc: Document) -> str:
    policy: list[dict[str, Any]] = doc.data["policy"].get("samples", [])
    baseline: list[dict[str, Any]] = doc.data["baseline"].get("samples", [])
    none: dict[str, Any] = {}
    rows = [
        (cell((p or b).get("prompt")), cell(b.get("response", "")), number(b.get("judge")),
         cell(p.get("response", "")), number(p.get("judge")))
        for b, p in zip_longest(baseline, policy, fillvalue=none)
    ]  # fmt: skip
    if not rows:
        return ""
    header = ["prompt", "baseline's response", "judge", "policy's response", "judge"]
    return f'<h3>{escape(doc.name)}</h3><div class="samples">{table(header, rows, {2, 4})}</div>'


def _samples_section(contents: RunContents) -> str:
    return "".join(_samples_html(doc) for doc in contents.evals)


def _quality_html(doc: Document) -> str:
    s = doc.data
    overview = (
        f"<p>{cell(s['items'])} items, {cell(s['judgments'])} judgments by "
        f"{len(s['annotators'])} annotators.</p>"
    )
    chart = image(bias_chart(s["annotators"]), "position and length bias per annotator")
    findings = quality.findings_lists(s, level=5)
    return (
        f"<h3>{escape(doc.name)}</h3>{overview}<h4>Agreement</h4>{quality.agreement_table(s)}"
        f"<h4>Annotators</h4>{quality.annotator_table(s)}{chart}"
        f"<details><summary>Findings per annotator</summary>{findings}</details>"
        f"<h4>Consensus</h4>{quality.consensus_table(s)}"
    )


def _quality_section(contents: RunContents) -> str:
    return "".join(_quality_html(doc) for doc in contents.quality)


SECTIONS: tuple[tuple[str, str, Callable[[RunContents], str]], ...] = (
    ("summary", "Summary", _summary_section),
    ("training", "Training runs", _training_section),
    ("evaluations", "Evaluations", _evals_section),
    ("samples", "Samples before and after", _samples_section),
    ("quality", "Annotator quality", _quality_section),
)
"""Each section's anchor, heading, and renderer (which returns "" when there is nothing)."""


def render_report(contents: RunContents) -> str:
    """The whole report as one HTML document, with only the sections that have something."""
    title = (contents.summary or {}).get("title") or f"Run report: {contents.root.resolve().name}"
    found = [(anchor, heading, render(contents)) for anchor, heading, render in SECTIONS]
    present = [(anchor, heading, html) for anchor, heading, html in found if html]
    toc = "".join(f'<li><a href="#{a}">{escape(h)}</a></li>' for a, h, _ in present)
    sections = "".join(
        f'<section id="{a}"><h2>{escape(h)}</h2>{html}</section>' for a, h, html in present
    )
    overview = (
        f"<p>Everything found under {escape(str(contents.root))}: training runs "
        f"{len(contents.runs)}, evaluations {len(contents.evals)}, annotator-quality summaries "
        f"{len(contents.quality)}.</p>"
    )
    body = f"<h1>{escape(title)}</h1>{overview}<nav><h2>Contents</h2><ul>{toc}</ul></nav>{sections}"
    return page(title, body, style=STYLE)


def save_report(contents: RunContents, output: Path | None = None) -> Path:
    """Render `contents` and write it atomically to `output` (default RUN_DIR/report.html)."""
    target = output if output is not None else contents.root / REPORT_FILE
    atomic_write_text(target, render_report(contents))
    return target


def write_report(run_dir: Path, output: Path | None = None) -> Path:
    """Read `run_dir` and write its report (default RUN_DIR/report.html); returns the path."""
    return save_report(read_run_dir(run_dir), output)
